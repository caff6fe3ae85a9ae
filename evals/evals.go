// Package evals measures the city's agents: YAML suites of cases (a
// question, optionally earlier turns and a caller, and what must be true of
// the answer: documents retrieved, tools called with which arguments, text
// contained, proposals made, latency), a parallel runner against the agent
// loop in this process or a cityagent server over HTTP, metrics per case and
// aggregated by agent, language, suite and tag, thresholds that fail a CI
// build, reports in JSON, JUnit XML and Markdown, and a diff of two runs.
//
// The suite format is documented in docs/evals.md and published as a JSON
// Schema (SuiteSchema, evals/schema/suite.schema.json).
package evals

import _ "embed"

// SuiteSchema is the JSON Schema (draft 2020-12) of a suite file.
//
//go:embed schema/suite.schema.json
var SuiteSchema []byte
