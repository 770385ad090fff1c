package oci

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ConfigFile is the name of the configuration in a bundle.
const ConfigFile = "config.json"

// maxConfigSize bounds what Load reads: real configs are a few KiB (a
// big seccomp profile adds some 30 KiB).
const maxConfigSize = 16 << 20

// Load reads and parses dir/config.json. dir is the bundle directory.
func Load(dir string) (*specs.Spec, error) {
	p := filepath.Join(dir, ConfigFile)
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("bundle %q has no %s", dir, ConfigFile)
		}
		return nil, fmt.Errorf("open %q: %w", p, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %q: %w", p, err)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return s, nil
}

// Parse decodes a config.json. Unknown properties are ignored, as the
// runtime spec requires ("MUST ignore unknown properties"); a known one
// of the wrong JSON type is an error naming its path and line.
func Parse(data []byte) (*specs.Spec, error) {
	var s specs.Spec
	if err := decode(data, &s, ""); err != nil {
		return nil, err
	}
	return &s, nil
}

// ParseProcess decodes and checks exec's --process file: a process
// object as in config.json. Errors name the field as "process.args".
func ParseProcess(data []byte) (*specs.Process, error) {
	var p specs.Process
	if err := decode(data, &p, "process"); err != nil {
		return nil, err
	}
	if err := checkProcess(&p, "process"); err != nil {
		return nil, err
	}
	return &p, nil
}

// ParseResources decodes update's --resources: linux.resources of a
// config.json. Errors name the field as "resources.memory.limit".
func ParseResources(data []byte) (*specs.LinuxResources, error) {
	var r specs.LinuxResources
	if err := decode(data, &r, "resources"); err != nil {
		return nil, err
	}
	return &r, nil
}

// decode reads exactly one JSON value into v; at prefixes field paths.
func decode(data []byte, v any, at string) error {
	if len(data) > maxConfigSize {
		return fmt.Errorf("larger than %d MiB", maxConfigSize>>20)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return jsonError(data, err, at)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("not JSON: data after the top-level object")
	}
	return nil
}

// jsonError says where a decoding error is: the field's JSON path for a
// value of the wrong type, the line and column otherwise.
func jsonError(data []byte, err error, at string) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typ):
		where := typ.Field
		switch {
		case at != "" && where != "":
			where = at + "." + where
		case at != "":
			where = at
		case where == "":
			where = "the top level"
		}
		return fmt.Errorf("%s: cannot be a JSON %s, want %s (line %s)", where, typ.Value, jsonKind(typ.Type.Kind().String()), lineCol(data, typ.Offset))
	case errors.As(err, &syn):
		return fmt.Errorf("not JSON: line %s: %w", lineCol(data, syn.Offset), err)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("not JSON: it ends at line %s before the object does", lineCol(data, int64(len(data))))
	}
	return fmt.Errorf("not JSON: %w", err)
}

// jsonKind names a Go kind in JSON's words.
func jsonKind(k string) string {
	switch k {
	case "slice", "array":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	}
	return "a number"
}

func lineCol(data []byte, off int64) string {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("%d:%d", line, col)
}
