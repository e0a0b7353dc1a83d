package head

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	bolt "go.etcd.io/bbolt"
)

// Store is where the head keeps its tables, so that a restarted head
// finds the cluster again: values by key in named tables.
type Store interface {
	Put(table, key string, value []byte) error
	Get(table, key string) (value []byte, found bool, err error)
	Delete(table, key string) error
	// List returns every key and value of a table.
	List(table string) (map[string][]byte, error)
	Close() error
}

// OpenStore opens the store a --gcs-store value names: "" or a path for
// the embedded store (bbolt: dir/gcs.db when empty), or redis://HOST:PORT
// for Redis, Ray's external store for a head that must survive losing its
// machine.
func OpenStore(spec, dir string) (Store, error) {
	if strings.HasPrefix(spec, "redis://") || strings.HasPrefix(spec, "rediss://") {
		return openRedis(spec)
	}
	path := spec
	if path == "" {
		path = filepath.Join(dir, "gcs.db")
	}
	return openBolt(path)
}

type boltStore struct{ db *bolt.DB }

func openBolt(path string) (*boltStore, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("gcs store %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("gcs store %s: %w", path, err)
	}
	return &boltStore{db: db}, nil
}

func (s *boltStore) Put(table, key string, value []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(table))
		if err != nil {
			return err
		}
		return b.Put([]byte(key), value)
	})
}

func (s *boltStore) Get(table, key string) ([]byte, bool, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(table))
		if b == nil {
			return nil
		}
		if v := b.Get([]byte(key)); v != nil {
			out = append([]byte{}, v...)
		}
		return nil
	})
	return out, out != nil, err
}

func (s *boltStore) Delete(table, key string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(table))
		if b == nil {
			return nil
		}
		return b.Delete([]byte(key))
	})
}

func (s *boltStore) List(table string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(table))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			out[string(k)] = append([]byte{}, v...)
			return nil
		})
	})
	return out, err
}

func (s *boltStore) Close() error { return s.db.Close() }

// redisStore keeps each table as a Redis hash named goray:<table>.
type redisStore struct{ c *redis.Client }

func openRedis(spec string) (*redisStore, error) {
	u, err := url.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("--gcs-store %q: %w", spec, err)
	}
	opt, err := redis.ParseURL(u.String())
	if err != nil {
		return nil, fmt.Errorf("--gcs-store %q: %w", spec, err)
	}
	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("--gcs-store %q: %w", spec, err)
	}
	return &redisStore{c: c}, nil
}

const redisTimeout = 5 * time.Second

func (s *redisStore) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), redisTimeout)
}

func (s *redisStore) Put(table, key string, value []byte) error {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.c.HSet(ctx, "goray:"+table, key, value).Err()
}

func (s *redisStore) Get(table, key string) ([]byte, bool, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	v, err := s.c.HGet(ctx, "goray:"+table, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	return v, err == nil, err
}

func (s *redisStore) Delete(table, key string) error {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.c.HDel(ctx, "goray:"+table, key).Err()
}

func (s *redisStore) List(table string) (map[string][]byte, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	m, err := s.c.HGetAll(ctx, "goray:"+table).Result()
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = []byte(v)
	}
	return out, nil
}

func (s *redisStore) Close() error { return s.c.Close() }
