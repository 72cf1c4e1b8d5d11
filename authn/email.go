package authn

import (
	"errors"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// ErrInvalidEmail: an address that is not a valid email address. The HTTP
// layer reports it as a 422 validation error on the email field.
var ErrInvalidEmail = errors.New("authn: invalid email address")

// The limits of python-email-validator (rfc_constants.py).
const (
	maxAddressOctets = 254 // EMAIL_MAX_LENGTH: the whole address, in UTF-8 bytes
	maxLocalChars    = 64  // LOCAL_PART_MAX_LENGTH: the local part, in characters
	maxDomainOctets  = 253 // DOMAIN_MAX_LENGTH: the domain in its IDNA ASCII form
	maxLabelOctets   = 63  // DNS_LABEL_LENGTH_LIMIT: one label of that form
)

// NormalizeEmail validates an email address and normalises it as
// fastapi-users does: with pydantic's EmailStr, that is python-email-validator's
// validate_email(email, check_deliverability=False) with its defaults. The
// rules followed are email-validator 2.2.0's, which are also 2.3.0's with
// strict=True (2.3.0 dropped the 64-character local part limit unless strict;
// keylin keeps it so that a service on either version accepts what keylin
// stores). In short:
//
//   - Surrounding white space is trimmed (pydantic strips it); exactly one @.
//   - The local part is a dot-atom of RFC 5322 atext or characters from
//     U+0080 up (RFC 6531), at most 64 characters, without quotes; it is kept
//     as typed, in Unicode normal form C, and its normal form must pass the
//     same checks. The role mailboxes of RFC 2142 (postmaster, abuse,
//     info, ...) are case-insensitive and lower-cased.
//   - Neither part may hold unsafe characters: only letters, numbers,
//     punctuation and symbols, and combining marks other than first.
//     Spaces (Zs, such as U+3000 or U+2002), line and paragraph separators,
//     control and format characters (zero-width, bidi, soft hyphen),
//     surrogates, private-use and unassigned code points are refused
//     (email-validator's check_unsafe_chars).
//   - The domain is mapped by UTS #46 (case folding, NFC, full-width dots),
//     must be valid IDNA 2008 and its IDNA ASCII form a hostname of at most
//     253 bytes, with labels of 1 to 63 bytes, a dot, and a last label that
//     ends with a letter. It is returned lower-cased in Unicode. Special-use
//     domains (.arpa, .invalid, .local, .localhost, .onion, .test) are refused.
//   - The address as given, the normalised address and the address with the
//     domain in IDNA ASCII are each at most 254 UTF-8 bytes.
//
// Quoted local parts and domain literals ([192.0.2.1]), which email-validator
// refuses by default, are refused. keylin also refuses U+FFFD, the character
// Go's decoders put in place of malformed input. Uniqueness and login compare
// addresses ignoring case, in the database.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxAddressOctets || !utf8.ValidString(s) || strings.Count(s, "@") != 1 {
		return "", ErrInvalidEmail
	}
	at := strings.IndexByte(s, '@')
	local, ok := normalizeLocal(s[:at])
	if !ok {
		return "", ErrInvalidEmail
	}
	if isASCII(local) && slices.Contains(caseInsensitiveMailboxes, strings.ToLower(local)) {
		local = strings.ToLower(local)
	}
	domain, ascii, ok := normalizeDomain(s[at+1:])
	if !ok {
		return "", ErrInvalidEmail
	}
	addr := local + "@" + domain
	if len(addr) > maxAddressOctets || len(local)+1+len(ascii) > maxAddressOctets {
		return "", ErrInvalidEmail
	}
	return addr, nil
}

// caseInsensitiveMailboxes are email-validator's CASE_INSENSITIVE_MAILBOX_NAMES:
// the mailbox names of RFC 2142, which it lower-cases.
var caseInsensitiveMailboxes = []string{
	"info", "marketing", "sales", "support", // section 3
	"abuse", "noc", "security", // section 4
	"postmaster", "hostmaster", "usenet", "news", "webmaster", "www", "uucp", "ftp", // section 5
}

// normalizeLocal checks a local part and returns it in normal form C.
func normalizeLocal(l string) (string, bool) {
	if !dotAtom(l) {
		return "", false
	}
	if isASCII(l) {
		return l, true
	}
	// email-validator 2.2.0 checks the normalised form again: NFC can
	// lengthen a string, and could in principle yield a character the
	// dot-atom does not allow.
	n := norm.NFC.String(l)
	if n != l && !dotAtom(n) {
		return "", false
	}
	return n, safeChars(n)
}

// dotAtom reports whether l is a dot-atom of at most 64 characters:
// RFC 5322 atext, extended by RFC 6531 to every character from U+0080 up.
func dotAtom(l string) bool {
	if l == "" || utf8.RuneCountInString(l) > maxLocalChars ||
		l[0] == '.' || l[len(l)-1] == '.' || strings.Contains(l, "..") {
		return false
	}
	for _, r := range l {
		if (r < utf8.RuneSelf && !isAtext(byte(r)) && r != '.') || r == utf8.RuneError {
			return false
		}
	}
	return true
}

func isAtext(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// safeChars is email-validator's check_unsafe_chars: it reports whether s
// holds only characters that display as themselves and cannot change how
// the text around them renders.
func safeChars(s string) bool {
	first := true
	for _, r := range s {
		switch {
		case unicode.In(r, unicode.L, unicode.N, unicode.P, unicode.S):
			// Letters, numbers, punctuation and symbols.
		case unicode.In(r, unicode.Mn, unicode.Mc, unicode.Me):
			// A combining mark in first place would combine with
			// whatever text precedes the address.
			if first {
				return false
			}
		case unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp):
			// Spaces other than ASCII's (which the atext already
			// refuses) and line and paragraph separators.
			return false
		case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Cs, unicode.Co):
			// Control and format characters (zero-width characters,
			// bidi overrides, the soft hyphen) change how the address
			// renders; surrogates are not characters; private-use
			// characters mean nothing outside an agreement.
			return false
		default:
			// Unassigned code points, and any category Unicode may add.
			return false
		}
		first = false
	}
	return true
}

// specialUseTLDs are email-validator's SPECIAL_USE_DOMAIN_NAMES: these
// domains and every domain under them are refused.
var specialUseTLDs = []string{"arpa", "invalid", "local", "localhost", "onion", "test"}

// normalizeDomain checks a domain and returns its lower-cased Unicode form
// and its IDNA ASCII form.
func normalizeDomain(d string) (uni, ascii string, ok bool) {
	// Before mapping: letters, digits, hyphens, dots and non-ASCII
	// characters only, and no unsafe character (UTS #46 would silently
	// drop some, such as U+00AD and U+200B).
	for i := 0; i < len(d); i++ {
		if c := d[i]; c < utf8.RuneSelf && !isLDH(c) && c != '.' {
			return "", "", false
		}
	}
	if !safeChars(d) {
		return "", "", false
	}
	ascii, err := idna.Lookup.ToASCII(d)
	if err != nil || len(ascii) > maxDomainOctets {
		return "", "", false
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 { // globally deliverable domains have a dot
		return "", "", false
	}
	for _, lb := range labels {
		if !hostnameLabel(lb) {
			return "", "", false
		}
	}
	tld := labels[len(labels)-1]
	if c := tld[len(tld)-1]; c < 'a' || c > 'z' || slices.Contains(specialUseTLDs, tld) {
		return "", "", false
	}
	uni, err = idna.Lookup.ToUnicode(ascii)
	if err != nil || !safeChars(uni) {
		return "", "", false
	}
	for _, lb := range strings.Split(uni, ".") {
		if !idna2008Label(lb) {
			return "", "", false
		}
	}
	return uni, ascii, true
}

func isLDH(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
}

// hostnameLabel reports whether lb, a label of a lower-cased IDNA ASCII
// domain, is a hostname label (RFC 952, RFC 1123) of at most 63 bytes and
// not a reserved LDH label (RFC 5890: hyphens in third and fourth place,
// except the "xn--" of Punycode).
func hostnameLabel(lb string) bool {
	if lb == "" || len(lb) > maxLabelOctets || lb[0] == '-' || lb[len(lb)-1] == '-' {
		return false
	}
	for i := 0; i < len(lb); i++ {
		if c := lb[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return len(lb) < 4 || lb[2:4] != "--" || lb[:2] == "xn"
}

// idna2008Label reports whether every character of lb, a label after
// UTS #46 mapping, is PVALID in IDNA 2008 (RFC 5892) or a CONTEXTO
// character in a context its rule allows, and lb does not start with a
// combining mark. email-validator encodes the domain with the idna package
// in IDNA 2008 mode, which refuses, for example, symbols such as U+2603
// that UTS #46 alone lets through. Join controls (CONTEXTJ) are format
// characters, refused before.
func idna2008Label(lb string) bool {
	for i, r := range lb {
		if i == 0 && unicode.In(r, unicode.Mn, unicode.Mc, unicode.Me) {
			return false
		}
		switch {
		case r < utf8.RuneSelf:
			if !isLDH(byte(r)) {
				return false
			}
		case r == 0xDF, r == 0x3C2, r == 0x6FD, r == 0x6FE, r == 0xF0B, r == 0x3007:
			// PVALID exceptions.
		case r == 0x640, r == 0x7FA, r == 0x19DA, r == 0x302E, r == 0x302F, r >= 0x3031 && r <= 0x3035, r == 0x303B:
			return false // DISALLOWED exceptions.
		case r == 0xB7, r == 0x375, r == 0x5F3, r == 0x5F4, r == 0x30FB,
			r >= 0x660 && r <= 0x669, r >= 0x6F0 && r <= 0x6F9:
			if !contextO(lb, i, r) {
				return false
			}
		case unicode.In(r, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector,
			unicode.Noncharacter_Code_Point, unicode.White_Space):
			return false // IgnorableProperties.
		case r >= 0x20D0 && r <= 0x20FF, r >= 0x1D100 && r <= 0x1D24F:
			return false // IgnorableBlocks.
		case r >= 0x1100 && r <= 0x11FF, r >= 0xA960 && r <= 0xA97F, r >= 0xD7B0 && r <= 0xD7FF:
			return false // OldHangulJamo.
		case unicode.In(r, unicode.Ll, unicode.Lu, unicode.Lo, unicode.Lm, unicode.Mn, unicode.Mc, unicode.Nd):
			// LetterDigits.
		default:
			return false
		}
	}
	return true
}

// contextO applies the CONTEXTO rule of RFC 5892 appendix A for r, found
// at byte offset i of lb.
func contextO(lb string, i int, r rune) bool {
	before, _ := utf8.DecodeLastRuneInString(lb[:i])
	after, _ := utf8.DecodeRuneInString(lb[i+utf8.RuneLen(r):])
	switch {
	case r == 0xB7: // MIDDLE DOT: between two l.
		return before == 'l' && after == 'l'
	case r == 0x375: // GREEK LOWER NUMERAL SIGN: before a Greek character.
		return unicode.Is(unicode.Greek, after)
	case r == 0x5F3, r == 0x5F4: // HEBREW GERESH, GERSHAYIM: after a Hebrew character.
		return unicode.Is(unicode.Hebrew, before)
	case r == 0x30FB: // KATAKANA MIDDLE DOT: in a label with kana or Han.
		return strings.ContainsFunc(lb, func(c rune) bool {
			return c != 0x30FB && unicode.In(c, unicode.Hiragana, unicode.Katakana, unicode.Han)
		})
	case r <= 0x669: // ARABIC-INDIC DIGITS: not mixed with extended ones.
		return !strings.ContainsFunc(lb, func(c rune) bool { return c >= 0x6F0 && c <= 0x6F9 })
	default: // EXTENDED ARABIC-INDIC DIGITS: not mixed with the others.
		return !strings.ContainsFunc(lb, func(c rune) bool { return c >= 0x660 && c <= 0x669 })
	}
}

// lookupEmail turns an email as a client typed it into the form it is
// looked up by: normalised when it is a valid address, so that an
// internationalised domain in any case matches; ok is false when it cannot
// be an email at all (not UTF-8, a NUL byte, too long), and it is then
// never sent to the database.
func lookupEmail(email string) (string, bool) {
	if !utf8.ValidString(email) || strings.ContainsRune(email, 0) || len(email) > MaxEmailLength {
		return "", false
	}
	if n, err := NormalizeEmail(email); err == nil {
		return n, true
	}
	return email, true
}

// accountKey is the subject per-account limits count a normalised email
// by: the address in lower case, as uniqueness compares it.
func accountKey(email string) string { return strings.ToLower(email) }

// accountOf is accountKey of an email as a client typed it; "" (no
// account limit) when it cannot be an email at all.
func accountOf(email string) string {
	e, ok := lookupEmail(email)
	if !ok {
		return ""
	}
	return accountKey(strings.TrimSpace(e))
}

// equalFoldEmail reports whether two addresses are the same ignoring case.
func equalFoldEmail(a, b string) bool { return strings.EqualFold(a, b) }
