package seccomp

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"golang.org/x/sys/unix"
)

// filterJSON is how a Filter travels from the supervisor to the init: the
// program as the kernel reads it (8 bytes per instruction, little-endian
// fields, base64 in JSON), so the init installs exactly what the
// supervisor compiled and checked.
type filterJSON struct {
	Flags   uintptr `json:"flags,omitempty"`
	Program []byte  `json:"program"`
}

// MarshalJSON encodes the program compactly.
func (f Filter) MarshalJSON() ([]byte, error) {
	b := make([]byte, 8*len(f.Program))
	for i, in := range f.Program {
		binary.LittleEndian.PutUint16(b[8*i:], in.Code)
		b[8*i+2], b[8*i+3] = in.Jt, in.Jf
		binary.LittleEndian.PutUint32(b[8*i+4:], in.K)
	}
	return json.Marshal(filterJSON{Flags: f.Flags, Program: b})
}

// UnmarshalJSON decodes what MarshalJSON wrote.
func (f *Filter) UnmarshalJSON(data []byte) error {
	var j filterJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	if len(j.Program)%8 != 0 || len(j.Program) == 0 || len(j.Program)/8 > maxInsns {
		return fmt.Errorf("seccomp program of %d bytes", len(j.Program))
	}
	f.Flags = j.Flags
	f.Program = make([]unix.SockFilter, len(j.Program)/8)
	for i := range f.Program {
		b := j.Program[8*i:]
		f.Program[i] = unix.SockFilter{Code: binary.LittleEndian.Uint16(b), Jt: b[2], Jf: b[3], K: binary.LittleEndian.Uint32(b[4:])}
	}
	return nil
}
