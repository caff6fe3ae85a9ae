package server

import (
	"context"
	"errors"
	"testing"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/cityagent/cityagent/access"
)

// TestOpenAICompatible drives the facade with the official openai-go client.
func TestOpenAICompatible(t *testing.T) {
	t.Parallel()
	env := newEnv(t, "lookup")
	client := oai.NewClient(option.WithBaseURL(env.base+"/v1"), option.WithAPIKey(env.keys[access.RoleOperator]), option.WithMaxRetries(0))
	ctx := context.Background()

	models, err := client.Models.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range models.Data {
		ids = append(ids, m.ID)
	}
	if len(ids) != 2 {
		t.Fatalf("models: %v", ids)
	}

	first := []oai.ChatCompletionMessageParamUnion{oai.UserMessage("Is Zhongshan Road congested?")}
	resp, err := client.Chat.Completions.New(ctx, oai.ChatCompletionNewParams{Model: "traffic", Messages: first})
	if err != nil {
		t.Fatal(err)
	}
	answer := resp.Choices[0].Message.Content
	if answer != "Zhongshan Road is congested." || resp.Choices[0].FinishReason != "stop" {
		t.Fatalf("completion: %+v", resp)
	}

	// The follow-up carries the history; it continues the same session, streamed.
	follow := append(first, oai.AssistantMessage(answer), oai.UserMessage("why?"))
	stream := client.Chat.Completions.NewStreaming(ctx, oai.ChatCompletionNewParams{Model: "traffic", Messages: follow})
	var acc oai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if acc.Choices[0].Message.Content != "Zhongshan Road is congested." {
		t.Fatalf("streamed: %+v", acc.Choices)
	}
	sessions, err := env.db.ListSessions(ctx, env.keyIDs[access.RoleOperator], 10, "")
	if err != nil || len(sessions) != 1 {
		t.Fatalf("want the follow-up in the first session, got %d sessions (%v)", len(sessions), err)
	}
	if turn, _ := env.db.LastTurn(ctx, sessions[0].ID); turn != 2 {
		t.Fatalf("session has %d turns, want 2", turn)
	}

	_, err = client.Chat.Completions.New(ctx, oai.ChatCompletionNewParams{Model: "weather", Messages: first})
	var apiErr *oai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Fatalf("unknown agent: %v", err)
	}
	hot := oai.NewClient(option.WithBaseURL(env.base+"/v1"), option.WithAPIKey(env.keys[access.RoleHotline]), option.WithMaxRetries(0))
	if _, err = hot.Chat.Completions.New(ctx, oai.ChatCompletionNewParams{Model: "traffic", Messages: first}); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" {
		t.Fatalf("hotline key on traffic: %v", err)
	}
}
