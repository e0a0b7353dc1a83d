package data

import (
	"encoding/json"
	"unicode/utf8"
)

// utf8BOM is the byte order mark some tools write at the start of UTF-8
// text files; readers skip it.
var utf8BOM = []byte("\ufeff")

// invalidUTF8At returns the offset of the first byte of b that is not part
// of valid UTF-8, or -1.
func invalidUTF8At(b []byte) int {
	if utf8.Valid(b) {
		return -1
	}
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// duplicateKey scans b, one syntactically valid JSON value, for an object
// (at any depth) that holds the same key twice, and returns the first
// repeated key and its offset. Keys are compared after unescaping, so
// "a" and "\u0061" are the same key.
func duplicateKey(b []byte) (key string, off int, found bool) {
	type frame struct {
		object    bool
		expectKey bool
		keys      []string
		set       map[string]struct{}
	}
	var stack []frame
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{':
			stack = append(stack, frame{object: true, expectKey: true})
		case '[':
			stack = append(stack, frame{})
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case ',':
			if n := len(stack); n > 0 && stack[n-1].object {
				stack[n-1].expectKey = true
			}
		case '"':
			start, escaped := i, false
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					escaped = true
					i++
				}
			}
			n := len(stack)
			if n == 0 || !stack[n-1].object || !stack[n-1].expectKey {
				continue
			}
			f := &stack[n-1]
			f.expectKey = false
			k := string(b[start+1 : min(i, len(b))])
			if escaped {
				if err := json.Unmarshal(b[start:min(i+1, len(b))], &k); err != nil {
					continue // not valid JSON after all; the decoder reports it
				}
			}
			if f.set != nil {
				if _, dup := f.set[k]; dup {
					return k, start, true
				}
				f.set[k] = struct{}{}
				continue
			}
			for _, seen := range f.keys {
				if seen == k {
					return k, start, true
				}
			}
			f.keys = append(f.keys, k)
			if len(f.keys) > 16 {
				f.set = make(map[string]struct{}, 2*len(f.keys))
				for _, s := range f.keys {
					f.set[s] = struct{}{}
				}
				f.keys = nil
			}
		}
	}
	return "", 0, false
}
