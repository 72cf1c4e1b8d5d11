package authn

import (
	"encoding/json"
	"errors"
)

// errNotObject: a token's payload that is not a JSON object.
var errNotObject = errors.New("claims are not a JSON object")

// eachMember calls f with the name and the raw value of every member of
// the JSON object b, in order, without decoding the values: the claims
// decoder reads the members it knows by their exact names, as PyJWT does.
// b must be valid JSON (the caller checks with json.Valid). A name written
// with escapes is unescaped; a plain one is passed as a slice of b.
func eachMember(b []byte, f func(name, raw []byte) error) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errNotObject
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return nil
	}
	for i < len(b) {
		end := stringEnd(b, i)
		name := b[i+1 : end-1]
		for _, c := range name {
			if c == '\\' {
				var s string
				if err := json.Unmarshal(b[i:end], &s); err != nil {
					return err
				}
				name = []byte(s)
				break
			}
		}
		i = skipSpace(b, end)
		i = skipSpace(b, i+1) // the ':'
		vend := valueEnd(b, i)
		if err := f(name, b[i:vend]); err != nil {
			return err
		}
		i = skipSpace(b, vend)
		if i >= len(b) || b[i] == '}' {
			return nil
		}
		i = skipSpace(b, i+1) // the ','
	}
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the JSON string that starts at b[i].
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// valueEnd returns the index after the JSON value that starts at b[i].
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = stringEnd(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	return j
}
