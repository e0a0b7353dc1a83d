package corepb_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/goray/goray/core/corepb"
)

// core.pb.go is what gen.sh makes from core.proto.
func TestGeneratedCodeUpToDate(t *testing.T) {
	if _, err := exec.LookPath("protoc"); err != nil {
		t.Skip("protoc is not installed (apt-get install protobuf-compiler); not checking core.pb.go")
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		t.Skipf("go env GOPATH: %v", err)
	}
	plugin := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "protoc-gen-go")
	if _, err := os.Stat(plugin); err != nil {
		t.Skipf("%s is not installed (go generate ./core/corepb installs it); not checking core.pb.go", plugin)
	}
	out, err := exec.Command("bash", "gen.sh", "--verify").CombinedOutput()
	if err != nil {
		t.Fatalf("gen.sh --verify: %v\n%s", err, out)
	}
}

func TestTaskSpecRoundTrip(t *testing.T) {
	spec := &corepb.TaskSpec{
		TaskId:       make([]byte, 24),
		FunctionName: "square",
		Args: []*corepb.TaskArg{
			{Kind: &corepb.TaskArg_Inline{Inline: &corepb.Value{Codec: corepb.Codec_CODEC_CBOR, Data: []byte{0x03}}}},
			{Kind: &corepb.TaskArg_Ref{Ref: &corepb.ObjectRef{ObjectId: make([]byte, 28), Owner: &corepb.Address{Host: "127.0.0.1", Port: 1}}}},
		},
		Options:    &corepb.TaskOptions{Resources: &corepb.Resources{Cpu: 1, Custom: map[string]float64{"tpu": 2}}},
		NumReturns: 1,
	}
	b, err := proto.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	var got corepb.TaskSpec
	if err := proto.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&got, spec) {
		t.Fatalf("got %v, want %v", &got, spec)
	}
}
