-- Developer-registered tools and tool sources. A tool registered on its own
-- (an HTTP tool) is one row of registered_tools; a source (an OpenAPI
-- document or an MCP server) is one row of tool_sources, and its tools are
-- derived from it when it is loaded. Definitions are JSON (TEXT); they name
-- the environment variables that hold secrets, never the secrets. Times are
-- Unix nanoseconds, UTC.
CREATE TABLE registered_tools (
    name       TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL
);

CREATE TABLE tool_sources (
    name       TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL
);
