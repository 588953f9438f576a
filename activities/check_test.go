package activities_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/contentcheck"
	"github.com/cmo-dev/cmo/playbooks"
)

func TestCheckContentWithRealDictionaries(t *testing.T) {
	acts := &activities.Activities{Checker: activities.Gate{C: contentcheck.New("")}}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	val, err := env.ExecuteActivity(acts.CheckContent, activities.CheckInput{
		Rendered: []playbooks.Rendered{
			{ChannelID: "c1", Channel: "news", Platform: "sandbox", Text: "La nova col·lecció d'hivern ja és aquí! https://example.com/hivern"},
			{ChannelID: "c2", Channel: "care", Platform: "x", Text: "Our new colection is here, cheap and cheerful"},
		},
		Languages: []string{"ca", "en"}, Banned: []string{"cheap"}, RequireLink: true, Spelling: "warn",
	})
	if err != nil && !contentcheckAvailable() {
		t.Skip("dictionaries missing: run scripts/ensure-dictionaries.sh")
	}
	require.NoError(t, err)
	var fs []activities.Finding
	require.NoError(t, val.Get(&fs))
	byRule := map[string]activities.Finding{}
	for _, f := range fs {
		require.Equal(t, "care", f.Channel, "the Catalan post is clean: %+v", f)
		byRule[f.Rule] = f
	}
	require.Equal(t, "colection", byRule["spelling"].Word)
	require.Equal(t, "warn", byRule["spelling"].Severity)
	require.Equal(t, "cheap", byRule["banned"].Word)
	require.Equal(t, "block", byRule["banned"].Severity)
	require.Equal(t, "block", byRule["link"].Severity, "a required link is missing on care")
}

func contentcheckAvailable() bool {
	return contentcheck.New("").Load("ca", "en") == nil
}
