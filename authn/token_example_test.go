package authn_test

import (
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/keylin/keylin/authn"
)

func ExampleTokens() {
	tokens, err := authn.NewTokens(authn.TokenConfig{
		AccessSecret: []byte("JWT_SECRET value"),
		VerifySecret: []byte("VERIFICATION_SECRET value"),
		ResetSecret:  []byte("RESET_PASSWORD_SECRET value"),
	})
	if err != nil {
		panic(err)
	}
	userID := uuid.MustParse("8c7f4d00-0d8b-49cd-ae55-da44cdde2311")
	sessionID := uuid.MustParse("0b6f7d4e-4a1c-4c6e-9f00-2b8f6ac0e5d1") // the login's session

	token, _, err := tokens.IssueAccess(userID, sessionID)
	if err != nil {
		panic(err)
	}
	claims, err := tokens.ParseAccess(token)
	fmt.Println(claims.UserID, claims.SessionID, err)

	// A verify token is no access token.
	verify, _ := tokens.IssueVerify(userID, "a@example.com")
	_, err = tokens.ParseAccess(verify)
	fmt.Println(errors.Is(err, authn.ErrInvalidToken))
	// Output:
	// 8c7f4d00-0d8b-49cd-ae55-da44cdde2311 0b6f7d4e-4a1c-4c6e-9f00-2b8f6ac0e5d1 <nil>
	// true
}
