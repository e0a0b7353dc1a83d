package tune

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// TensorBoard event files are TFRecord files of tensorflow.Event protocol
// buffers. Each record is framed as
//
//	uint64 length (little endian) | uint32 masked crc32c(length) | data | uint32 masked crc32c(data)
//
// and the Event messages are encoded by hand with protowire:
//
//	Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//	Summary { repeated Value value = 1; }
//	Value   { string tag = 1; float simple_value = 2; }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maskedCRC is TFRecord's masked crc32c.
func maskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return ((c >> 15) | (c << 17)) + 0xa282ead8
}

// eventWriter appends scalar summaries to one events.out.tfevents file.
type eventWriter struct {
	f   *os.File
	w   *bufio.Writer
	buf []byte
}

func newEventWriter(dir string, run int) (*eventWriter, error) {
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	now := time.Now()
	name := fmt.Sprintf("events.out.tfevents.%d.%s.%d.%d", now.Unix(), host, os.Getpid(), run)
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	e := &eventWriter{f: f, w: bufio.NewWriter(f)}
	var ev []byte
	ev = protowire.AppendTag(ev, 1, protowire.Fixed64Type)
	ev = protowire.AppendFixed64(ev, math.Float64bits(float64(now.UnixNano())/1e9))
	ev = protowire.AppendTag(ev, 3, protowire.BytesType)
	ev = protowire.AppendString(ev, "brain.Event:2")
	if err := e.record(ev); err != nil {
		f.Close()
		return nil, err
	}
	return e, e.w.Flush()
}

func (e *eventWriter) record(data []byte) error {
	var hdr [12]byte
	binary.LittleEndian.PutUint64(hdr[:8], uint64(len(data)))
	binary.LittleEndian.PutUint32(hdr[8:], maskedCRC(hdr[:8]))
	var foot [4]byte
	binary.LittleEndian.PutUint32(foot[:], maskedCRC(data))
	e.w.Write(hdr[:])
	e.w.Write(data)
	_, err := e.w.Write(foot[:])
	return err
}

// scalars buffers one Event holding a simple_value per metric (sorted by
// tag).
func (e *eventWriter) scalars(wall float64, step int64, metrics map[string]float64) error {
	tags := make([]string, 0, len(metrics))
	for k := range metrics {
		tags = append(tags, k)
	}
	sort.Strings(tags)
	var summary []byte
	for _, tag := range tags {
		e.buf = e.buf[:0]
		e.buf = protowire.AppendTag(e.buf, 1, protowire.BytesType)
		e.buf = protowire.AppendString(e.buf, tag)
		e.buf = protowire.AppendTag(e.buf, 2, protowire.Fixed32Type)
		e.buf = protowire.AppendFixed32(e.buf, math.Float32bits(float32(metrics[tag])))
		summary = protowire.AppendTag(summary, 1, protowire.BytesType)
		summary = protowire.AppendBytes(summary, e.buf)
	}
	var ev []byte
	ev = protowire.AppendTag(ev, 1, protowire.Fixed64Type)
	ev = protowire.AppendFixed64(ev, math.Float64bits(wall))
	ev = protowire.AppendTag(ev, 2, protowire.VarintType)
	ev = protowire.AppendVarint(ev, uint64(step))
	ev = protowire.AppendTag(ev, 5, protowire.BytesType)
	ev = protowire.AppendBytes(ev, summary)
	return e.record(ev)
}

func (e *eventWriter) close() error {
	err := e.w.Flush()
	if cerr := e.f.Close(); err == nil {
		err = cerr
	}
	return err
}
