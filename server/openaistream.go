package server

import (
	"bufio"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/cityagent/cityagent/agents"
)

// resetNote is the text an OpenAI stream shows where the native stream
// sends a reset event: OpenAI's chunks cannot take back text, so the
// stream says that what follows replaces it, carries on with the fallback's
// answer and ends as usual; the last chunk's cityagent extension holds the
// answer alone (answer, reset) for a client that can replace what it showed.
const resetNote = "\n\n[cityagent: the model failed part-way through this answer; the answer below replaces the text above]\n\n"

// oaiStream frames a turn as OpenAI chat.completion.chunk events.
type oaiStream struct {
	id, model string
	created   int64
	usage     bool // stream_options.include_usage: a last chunk with the usage
	started   bool
	reset     bool
	shown     strings.Builder // the content sent, as the client accumulates it
	onDone    func(res agents.ChatResult, shown string)
}

func (o *oaiStream) frame(choices []fiber.Map) fiber.Map {
	f := fiber.Map{"id": o.id, "object": "chat.completion.chunk", "created": o.created, "model": o.model, "choices": choices}
	if o.usage {
		f["usage"] = nil
	}
	return f
}

func (o *oaiStream) chunk(w *bufio.Writer, delta fiber.Map, finish any) error {
	return writeSSE(w, "", o.frame([]fiber.Map{{"index": 0, "delta": delta, "finish_reason": finish}}))
}

func (o *oaiStream) content(w *bufio.Writer, text string) error {
	o.shown.WriteString(text)
	return o.chunk(w, fiber.Map{"content": text}, nil)
}

func (o *oaiStream) event(w *bufio.Writer, e agents.Event) error {
	if !o.started {
		o.started = true
		if err := o.chunk(w, fiber.Map{"role": "assistant", "content": ""}, nil); err != nil {
			return err
		}
	}
	switch e.Type {
	case agents.EventDelta:
		d, _ := e.Data.(agents.DeltaData)
		return o.content(w, d.Text)
	case agents.EventReset:
		o.reset = true
		if o.shown.Len() == 0 {
			return nil
		}
		return o.content(w, resetNote)
	case agents.EventDone:
		res, _ := e.Data.(agents.ChatResult)
		if o.onDone != nil {
			o.onDone(res, o.shown.String())
		}
		return o.finish(w, res)
	}
	return nil
}

// finish writes the client tool calls if the turn paused for them, the
// finish chunk, the usage chunk when asked for, and [DONE]. The last chunk
// carries the cityagent extension.
func (o *oaiStream) finish(w *bufio.Writer, res agents.ChatResult) error {
	reason := "stop"
	if len(res.ClientToolCalls) > 0 {
		reason = "tool_calls"
		if err := o.chunk(w, fiber.Map{"tool_calls": wireCalls(res.ClientToolCalls, true)}, nil); err != nil {
			return err
		}
	}
	ext := extension(res)
	if o.reset {
		ext["reset"], ext["answer"] = true, res.Answer
	}
	last := o.frame([]fiber.Map{{"index": 0, "delta": fiber.Map{}, "finish_reason": reason}})
	if o.usage {
		if err := writeSSE(w, "", last); err != nil {
			return err
		}
		last = o.frame([]fiber.Map{})
		last["usage"] = res.Usage
	}
	last["cityagent"] = ext
	if err := writeSSE(w, "", last); err != nil {
		return err
	}
	_, err := w.WriteString("data: [DONE]\n\n")
	return err
}

func (o *oaiStream) fail(w *bufio.Writer, p *Problem) error {
	return writeSSE(w, "", fiber.Map{"error": openAIErrorFor(p)})
}
