package telemetry

// Attribute names of the OpenTelemetry semantic conventions for generative
// AI (gen_ai.*) and HTTP that cityagent's spans carry, and its own
// (cityagent.*) where no convention exists.
const (
	AttrOperation      = "gen_ai.operation.name" // chat, invoke_agent, execute_tool, retrieval
	AttrProvider       = "gen_ai.provider.name"
	AttrRequestModel   = "gen_ai.request.model"
	AttrResponseModel  = "gen_ai.response.model"
	AttrInputTokens    = "gen_ai.usage.input_tokens"
	AttrOutputTokens   = "gen_ai.usage.output_tokens"
	AttrFinishReasons  = "gen_ai.response.finish_reasons"
	AttrAgentName      = "gen_ai.agent.name"
	AttrAgentVersion   = "gen_ai.agent.version"
	AttrConversationID = "gen_ai.conversation.id"
	AttrToolName       = "gen_ai.tool.name"
	AttrToolCallID     = "gen_ai.tool.call.id"
	AttrToolType       = "gen_ai.tool.type"
	AttrDataSource     = "gen_ai.data_source.id"

	AttrHTTPMethod = "http.request.method"
	AttrHTTPRoute  = "http.route"
	AttrHTTPStatus = "http.response.status_code"
	AttrURLPath    = "url.path"

	AttrProposalID     = "cityagent.proposal.id"
	AttrProposalAction = "cityagent.proposal.action"
	AttrProposalStatus = "cityagent.proposal.status"
	AttrProposalRisk   = "cityagent.proposal.risk"
	AttrDegraded       = "cityagent.degraded"
	AttrHits           = "cityagent.retrieval.hits"
	AttrStoreOp        = "db.operation.name"
	AttrStoreRecords   = "cityagent.store.records"
)

// Operation names (gen_ai.operation.name values; "retrieval" is ours).
const (
	OpChat        = "chat"
	OpInvokeAgent = "invoke_agent"
	OpExecuteTool = "execute_tool"
	OpRetrieval   = "retrieval"
)
