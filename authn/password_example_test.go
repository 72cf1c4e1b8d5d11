package authn_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/keylin/keylin/authn"
)

// A Hasher makes argon2id hashes a pwdlib (fastapi-users) service reads, and
// verifies those and bcrypt hashes; needsRehash says when a login should
// store a fresh hash.
func ExampleHasher() {
	ctx := context.Background()
	h, err := authn.NewHasher() // pwdlib's parameters, one slot per CPU
	if err != nil {
		panic(err)
	}
	hash, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.HasPrefix(hash, "$argon2id$v=19$m=65536,t=3,p=4$"))

	ok, needsRehash, err := h.Verify(ctx, "correct horse battery staple", hash)
	fmt.Println(ok, needsRehash, err)

	ok, needsRehash, err = h.Verify(ctx, "Tr0ub4dor&3", hash)
	fmt.Println(ok, needsRehash, err)

	// A bcrypt hash written by Python's bcrypt: right password, to be rehashed.
	ok, needsRehash, err = h.Verify(ctx, "o@cNQvNMkp$x%2ä#TsKd", "$2b$10$4DdUcQO0oEjBQ3hefcu8Ze8ExSGjugZDH.7Pij/fXnG3nfjb1hPA2")
	fmt.Println(ok, needsRehash, err)

	_, _, err = h.Verify(ctx, "anything", "$argon2id$v=19$m=4194304,t=3,p=4$l0TIibBAahL4rczL/bjZRg$g89z+naRGjIytvLUlx0moiXHPm6FkTOrjid3fkOYtOA")
	fmt.Println(errors.Is(err, authn.ErrUnsupportedHash))
	// Output:
	// true
	// true false <nil>
	// false false <nil>
	// true true <nil>
	// true
}

// CheckPassword is keylin's own policy; its refusals carry a reason for the
// user.
func ExampleCheckPassword() {
	for _, pw := range []string{"short", "PassWord1", "correct horse battery staple"} {
		var ipe *authn.InvalidPasswordError
		if err := authn.CheckPassword(pw); errors.As(err, &ipe) {
			fmt.Println(ipe.Reason)
		} else {
			fmt.Println("accepted")
		}
	}
	// Output:
	// Password should be at least 8 characters.
	// Password is too common.
	// accepted
}
