package webhook

// VerifyAt is Verify against a given clock, so tests can check the
// Standard Webhooks reference vector, signed in 2021.
var VerifyAt = verifyAt
