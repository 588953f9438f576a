package workflows

import (
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Search attributes every cmo workflow carries, so that an auditor can
// filter the Temporal UI by brand, playbook, kind, status and severity.
var (
	SABrand    = temporal.NewSearchAttributeKeyKeyword("Brand")
	SAPlaybook = temporal.NewSearchAttributeKeyKeyword("Playbook")
	SAKind     = temporal.NewSearchAttributeKeyKeyword("Kind")
	SAStatus   = temporal.NewSearchAttributeKeyKeyword("Status")
	SASeverity = temporal.NewSearchAttributeKeyKeyword("Severity")
)

// SearchAttributes lists the custom search attributes a namespace must
// have for cmo, by name and type. `cmo dev` registers them when it creates
// its namespace and `cmo worker` adds any that are missing.
func SearchAttributes() map[string]enumspb.IndexedValueType {
	out := map[string]enumspb.IndexedValueType{}
	for _, k := range []temporal.SearchAttributeKeyKeyword{SABrand, SAPlaybook, SAKind, SAStatus, SASeverity} {
		out[k.GetName()] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	return out
}

// Workflow kinds, the value of the Kind search attribute.
const (
	KindCampaign = "campaign"
	KindCrisis   = "crisis"
	KindMonitor  = "monitor"
)
