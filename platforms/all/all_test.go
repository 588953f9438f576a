package all

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/playbooks"
)

// Every platform a playbook or channel may name has a connector.
func TestEveryPlatformHasAConnector(t *testing.T) {
	r := Registry(Options{SandboxURL: "http://127.0.0.1:1/sandbox"})
	for _, p := range playbooks.Platforms {
		_, err := r.Get(p)
		require.NoError(t, err, p)
	}
	require.Len(t, r, len(playbooks.Platforms))
}
