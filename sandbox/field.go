package sandbox

import (
	"errors"
	"fmt"
	"strings"
)

// FieldError is a Spec that cannot run, or a host that cannot run it,
// because of one Spec field. Its message names fields as {Field}
// references, which a front end renders in its own words: cmd/rbox as
// the flag (--persist), an OCI front end as the JSON path in config.json.
// Error renders the Go field names.
type FieldError struct {
	// Field is the Spec field at fault, as Go names it: "Persist",
	// "Volumes", "Net".
	Field string
	// Value is the field's value as the front end gave it.
	Value string
	// format is fmt's, with {Field} references in its constant text;
	// the values stay in args, so a path with braces is never rendered.
	format string
	args   []any
	err    error
}

func (e *FieldError) Error() string { return e.Render(func(f string) string { return f }) }

func (e *FieldError) Unwrap() error { return e.err }

// Render is the message with every {Field} reference replaced by
// name(Field).
func (e *FieldError) Render(name func(field string) string) string {
	var b strings.Builder
	s := e.format
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			break
		}
		b.WriteString(s[:i])
		b.WriteString(name(s[i+1 : i+j]))
		s = s[i+j+1:]
	}
	b.WriteString(s)
	return fmt.Sprintf(b.String(), e.args...)
}

// fieldErr builds a FieldError: format is fmt's, with {Field}
// references and at most one %w for a cause.
func fieldErr(field, value, format string, a ...any) *FieldError {
	var cause error
	if strings.Contains(format, "%w") {
		cause = errors.Unwrap(fmt.Errorf(format, a...))
	}
	return &FieldError{Field: field, Value: value, format: strings.ReplaceAll(format, "%w", "%v"), args: a, err: cause}
}
