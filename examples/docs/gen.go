//go:build ignore

// gen writes account-security.pdf, the PDF of the docqa example, so the
// committed file can be rebuilt and reviewed as text: go generate.
package main

import (
	"log"
	"time"

	"github.com/go-pdf/fpdf"
)

//go:generate go run gen.go

var pages = []string{
	"Account security\n\n" +
		"Every account can be protected with two-factor authentication. Customers turn it on under Settings, Security, " +
		"and confirm it with a code from an authenticator app or a text message.\n\n" +
		"Passwords must have at least 12 characters. After 5 failed sign-in attempts the account is locked for 15 minutes, " +
		"and the owner receives an email about the attempts.",
	"Resetting a password\n\n" +
		"A password reset link is sent to the email address of the account and stays valid for 60 minutes. " +
		"Support staff never ask for a customer's password, neither by phone nor by email.",
}

func main() {
	f := fpdf.New("P", "mm", "A4", "")
	f.SetCompression(true)
	f.SetCreationDate(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	f.SetTitle("Account security", false)
	for _, p := range pages {
		f.AddPage()
		f.SetFont("Helvetica", "", 12)
		f.MultiCell(0, 6, p, "", "L", false)
	}
	if err := f.OutputFileAndClose("account-security.pdf"); err != nil {
		log.Fatal(err)
	}
}
