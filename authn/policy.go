package authn

import (
	"context"
	"strings"
	"unicode/utf8"
)

// PasswordValidator is an application's own password rule, like
// fastapi-users' validate_password(password, user). user is nil at
// registration and the current user when a password is changed or reset. It
// runs after [CheckPassword]; an error that does not wrap
// [ErrInvalidPassword] is shown to the user as the reason, so it must not
// contain the password.
type PasswordValidator func(ctx context.Context, password string, user *User) error

// Bounds of keylin's built-in password policy.
const (
	minPasswordLength = 8    // Unicode code points
	maxPasswordBytes  = 1024 // bytes of UTF-8
)

// Reasons given by CheckPassword.
const (
	reasonNotUTF8  = "Password must be valid UTF-8 text."
	reasonTooLong  = "Password is too long (maximum 1024 bytes)."
	reasonTooShort = "Password should be at least 8 characters."
	reasonCommon   = "Password is too common."
)

// CheckPassword applies keylin's built-in policy, following NIST SP 800-63B:
// the password must be valid UTF-8, at most 1024 bytes and at least 8
// characters counted as Unicode code points, and not one of a short list of
// the most common passwords (compared without regard to letter case). There are no composition rules. A refusal is an
// *[InvalidPasswordError] whose Reason is a sentence for the user; it never
// contains the password.
func CheckPassword(password string) error {
	switch {
	case !utf8.ValidString(password):
		return &InvalidPasswordError{Reason: reasonNotUTF8}
	case len(password) > maxPasswordBytes:
		return &InvalidPasswordError{Reason: reasonTooLong}
	case utf8.RuneCountInString(password) < minPasswordLength:
		return &InvalidPasswordError{Reason: reasonTooShort}
	}
	if _, common := commonPasswords[strings.ToLower(password)]; common {
		return &InvalidPasswordError{Reason: reasonCommon}
	}
	return nil
}

// commonPasswords holds, in lower case, the most common passwords of at least
// eight characters in public breach corpora (shorter ones are refused by
// length already).
var commonPasswords = map[string]struct{}{
	"password":      {},
	"password1":     {},
	"password12":    {},
	"password123":   {},
	"password!":     {},
	"passw0rd":      {},
	"p@ssw0rd":      {},
	"p@ssword":      {},
	"passwort":      {},
	"12345678":      {},
	"123456789":     {},
	"1234567890":    {},
	"0123456789":    {},
	"87654321":      {},
	"987654321":     {},
	"11111111":      {},
	"00000000":      {},
	"88888888":      {},
	"12341234":      {},
	"11223344":      {},
	"12121212":      {},
	"123123123":     {},
	"147258369":     {},
	"123456789a":    {},
	"abcd1234":      {},
	"abc12345":      {},
	"aa123456":      {},
	"abcdefgh":      {},
	"qwertyui":      {},
	"qwertyuiop":    {},
	"qwerty12":      {},
	"qwerty123":     {},
	"qwer1234":      {},
	"1234qwer":      {},
	"1q2w3e4r":      {},
	"1q2w3e4r5t":    {},
	"q1w2e3r4":      {},
	"1qaz2wsx":      {},
	"zaq12wsx":      {},
	"qazwsxedc":     {},
	"123qweasd":     {},
	"asdfghjk":      {},
	"asdfghjkl":     {},
	"zxcvbnm1":      {},
	"azertyui":      {},
	"iloveyou":      {},
	"iloveyou1":     {},
	"changeme":      {},
	"letmein1":      {},
	"letmein123":    {},
	"welcome1":      {},
	"welcome123":    {},
	"admin123":      {},
	"administrator": {},
	"trustno1":      {},
	"sunshine":      {},
	"princess":      {},
	"football":      {},
	"baseball":      {},
	"superman":      {},
	"starwars":      {},
	"whatever":      {},
	"computer":      {},
	"internet":      {},
	"michelle":      {},
	"jennifer":      {},
}
