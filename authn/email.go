package authn

import (
	"errors"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// ErrInvalidEmail: an address that is not a valid email address. The HTTP
// layer reports it as a 422 validation error on the email field.
var ErrInvalidEmail = errors.New("authn: invalid email address")

// MaxEmailLength is the longest address accepted (the column's size).
const MaxEmailLength = 320

// NormalizeEmail validates an email address and normalises it the way
// fastapi-users' validator (python-email-validator) does: surrounding
// blanks are trimmed, the domain is lower-cased and kept in Unicode (an
// internationalised domain is checked through its IDNA form), the local part
// is kept as typed, in Unicode normal form C. Special-use domains
// (.local, .localhost, .test, .invalid, .onion, .arpa) are refused.
// Uniqueness and login compare addresses ignoring case, in the database.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > MaxEmailLength || !utf8.ValidString(s) {
		return "", ErrInvalidEmail
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return "", ErrInvalidEmail
	}
	local, domain := s[:at], s[at+1:]
	if !validLocal(local) {
		return "", ErrInvalidEmail
	}
	ascii, err := idna.Lookup.ToASCII(strings.ToLower(domain))
	if err != nil || !validDomain(ascii) {
		return "", ErrInvalidEmail
	}
	uni, err := idna.Lookup.ToUnicode(ascii)
	if err != nil {
		return "", ErrInvalidEmail
	}
	return norm.NFC.String(local) + "@" + uni, nil
}

// specialUseTLDs are the special-use domain names email-validator refuses.
var specialUseTLDs = []string{"arpa", "invalid", "local", "localhost", "onion", "test"}

// validLocal accepts a dot-atom local part (RFC 5322 atext, plus UTF-8 as
// RFC 6531 allows), at most 64 bytes, without quoting.
func validLocal(l string) bool {
	if len(l) > 64 || strings.HasPrefix(l, ".") || strings.HasSuffix(l, ".") || strings.Contains(l, "..") {
		return false
	}
	for _, r := range l {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", r):
		case r > 127 && r != utf8.RuneError && !isSpaceOrControl(r):
		default:
			return false
		}
	}
	return true
}

func isSpaceOrControl(r rune) bool {
	return r == 0x85 || r == 0xA0 || (r >= 0x80 && r < 0xA0) || r == 0x2028 || r == 0x2029 || r == 0xFEFF
}

// validDomain accepts a dotted hostname with at least two labels and a
// non-numeric top-level label.
func validDomain(d string) bool {
	if len(d) > 253 {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, lb := range labels {
		if lb == "" || len(lb) > 63 || strings.HasPrefix(lb, "-") || strings.HasSuffix(lb, "-") {
			return false
		}
		for _, r := range lb {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	return strings.Trim(tld, "0123456789") != "" && !slices.Contains(specialUseTLDs, tld)
}
