// Command tenant-fs-objectstore is a Velero ObjectStore plugin that keeps backups in a local
// directory. It lets the project test its Velero integration against a real Velero server on a
// machine without an object storage service. Not for production: a BackupStorageLocation must be
// durable storage, and this directory is only as durable as the disk it is on.
//
// BackupStorageLocation: provider "tenant-operator.dev/filesystem", objectStorage.bucket names
// a directory below config.root (required, absolute).
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/vmware-tanzu/velero/pkg/plugin/framework"
)

const pluginName = "tenant-operator.dev/filesystem"

func main() {
	framework.NewServer().
		RegisterObjectStore(pluginName, func(log logrus.FieldLogger) (any, error) {
			return &store{log: log}, nil
		}).
		Serve()
}

type store struct {
	log  logrus.FieldLogger
	root string
}

func (s *store) Init(config map[string]string) error {
	root := config["root"]
	if root == "" || !filepath.IsAbs(root) {
		return fmt.Errorf("%s: config.root must be an absolute directory, got %q", pluginName, root)
	}
	for key := range config {
		switch key {
		case "root", "bucket", "prefix", "caCert", "credentialsFile":
		default:
			return fmt.Errorf("%s: unknown config key %q (known: root)", pluginName, key)
		}
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return err
	}
	s.root = root
	return nil
}

// path maps bucket and key to a file below the root, refusing anything that would leave it.
func (s *store) path(bucket, key string) (string, error) {
	if bucket == "" || strings.ContainsAny(bucket, `/\`) || bucket == "." || bucket == ".." {
		return "", fmt.Errorf("invalid bucket %q", bucket)
	}
	clean := filepath.Clean("/" + key)
	if key != "" && clean == "/" {
		return "", fmt.Errorf("invalid key %q", key)
	}
	return filepath.Join(s.root, bucket, clean), nil
}

func (s *store) PutObject(bucket, key string, body io.Reader) error {
	p, err := s.path(bucket, key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".put-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, body); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p) // whole or nothing
}

func (s *store) ObjectExists(bucket, key string) (bool, error) {
	p, err := s.path(bucket, key)
	if err != nil {
		return false, err
	}
	info, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return info.Mode().IsRegular(), nil
}

func (s *store) GetObject(bucket, key string) (io.ReadCloser, error) {
	p, err := s.path(bucket, key)
	if err != nil {
		return nil, err
	}
	return os.Open(p)
}

// keys lists every object key of the bucket that starts with prefix, sorted.
func (s *store) keys(bucket, prefix string) ([]string, error) {
	base, err := s.path(bucket, "")
	if err != nil {
		return nil, err
	}
	var out []string
	err = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".put-") {
			return nil
		}
		rel, err := filepath.Rel(base, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if strings.HasPrefix(key, prefix) {
			out = append(out, key)
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

func (s *store) ListCommonPrefixes(bucket, prefix, delimiter string) ([]string, error) {
	keys, err := s.keys(bucket, prefix)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, key := range keys {
		rest := key[len(prefix):]
		i := strings.Index(rest, delimiter)
		if delimiter == "" || i < 0 {
			continue
		}
		p := prefix + rest[:i+len(delimiter)]
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}

func (s *store) ListObjects(bucket, prefix string) ([]string, error) {
	return s.keys(bucket, prefix)
}

func (s *store) DeleteObject(bucket, key string) error {
	p, err := s.path(bucket, key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (s *store) CreateSignedURL(bucket, key string, ttl time.Duration) (string, error) {
	p, err := s.path(bucket, key)
	if err != nil {
		return "", err
	}
	// No server to sign for: a file URL, readable only on this machine.
	return "file://" + p, nil
}
