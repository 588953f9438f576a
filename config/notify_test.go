package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNotifierSettings(t *testing.T) {
	c, err := FromLookup(lookupMap(map[string]string{
		EnvSMTPAddr:     " smtp.acme.example:587 ",
		EnvSMTPFrom:     "cmo <cmo@acme.example>",
		EnvSMTPUsername: "cmo",
		EnvSMTPPassword: " pass with spaces ",
		EnvPagerDutyURL: "http://127.0.0.1:9999/v2/enqueue",
	}))
	require.NoError(t, err)
	require.Equal(t, "smtp.acme.example:587", c.SMTPAddr)
	require.Equal(t, "cmo <cmo@acme.example>", c.SMTPFrom)
	require.Equal(t, "cmo", c.SMTPUsername)
	require.Equal(t, " pass with spaces ", c.SMTPPassword, "a password is not trimmed")
	require.Equal(t, "http://127.0.0.1:9999/v2/enqueue", c.PagerDutyURL)

	c, err = FromLookup(lookupMap(nil))
	require.NoError(t, err)
	require.Empty(t, c.SMTPAddr, "no mail server unless configured")
	require.Equal(t, "https://events.pagerduty.com/v2/enqueue", c.PagerDutyURL)
}

func TestNotifierSettingErrorsNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		varName string
		detail  string
	}{
		{"smtp address without port", map[string]string{EnvSMTPAddr: "smtp.acme.example", EnvSMTPFrom: "cmo@acme.example"}, EnvSMTPAddr, "host:port"},
		{"smtp without sender", map[string]string{EnvSMTPAddr: "localhost:25"}, EnvSMTPFrom, "required"},
		{"smtp sender not an address", map[string]string{EnvSMTPAddr: "localhost:25", EnvSMTPFrom: "cmo at acme"}, EnvSMTPFrom, `"cmo at acme"`},
		{"username without password", map[string]string{EnvSMTPAddr: "localhost:25", EnvSMTPFrom: "cmo@acme.example", EnvSMTPUsername: "cmo"}, EnvSMTPPassword, "both or neither"},
		{"pagerduty url not a url", map[string]string{EnvPagerDutyURL: "events.pagerduty.com"}, EnvPagerDutyURL, "http(s) URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromLookup(lookupMap(tc.env))
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.varName)
			require.Contains(t, err.Error(), tc.detail)
		})
	}
}

func TestNotifierVarsAreDocumented(t *testing.T) {
	for _, name := range []string{EnvSMTPAddr, EnvSMTPFrom, EnvSMTPUsername, EnvSMTPPassword, EnvPagerDutyURL} {
		require.NotEmpty(t, Vars[name], name)
	}
}
