package server

import (
	"encoding/xml"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/cityagent/cityagent/hotline"
)

// GeoReport v2 XML: schemaless, no namespace, the XML declaration with
// encoding="utf-8" first, Content-Type text/xml. Lists are a root element
// of items (<services><service>, <service_requests><request>, <errors>
// <error>); the element names are the JSON field names (the JSON format is
// the spec's mapping of this XML).

// open311XMLType is the Content-Type of GeoReport XML.
const open311XMLType = "text/xml; charset=utf-8"

// open311XMLHeader precedes every XML answer.
const open311XMLHeader = `<?xml version="1.0" encoding="utf-8"?>` + "\n"

type xmlServices struct {
	XMLName  xml.Name                 `xml:"services"`
	Services []hotline.Open311Service `xml:"service"`
}

// xmlServiceRequests is a <service_requests> list of T as <request>.
type xmlServiceRequests[T any] struct {
	XMLName  xml.Name `xml:"service_requests"`
	Requests []T      `xml:"request"`
}

type xmlErrors struct {
	XMLName xml.Name       `xml:"errors"`
	Errors  []open311Error `xml:"error"`
}

// open311Formats are the formats the facade answers in.
var open311Formats = []string{"json", "xml"}

// open311WantsXML reports whether the request asked for XML: the path's
// format suffix (.xml). The path, not the route's format parameter: errors
// raised before any route matched (an oversized body) answer in it too.
func open311WantsXML(c *fiber.Ctx) bool {
	return strings.HasSuffix(c.Path(), ".xml")
}

// checkOpen311Format refuses a format the facade does not serve: ok is
// false when the refusal has been written (err is the write's).
func checkOpen311Format(c *fiber.Ctx) (ok bool, err error) {
	f := c.Params("format")
	for _, x := range open311Formats {
		if f == x {
			return true, nil
		}
	}
	return false, open311Fail(c, fiber.StatusBadRequest, fmt.Sprintf("format %q is not supported; use .json or .xml", f))
}

// open311Write answers jsonV as JSON, or xmlV as GeoReport XML when the
// request asked for .xml.
func open311Write(c *fiber.Ctx, jsonV, xmlV any) error {
	if !open311WantsXML(c) {
		return c.JSON(jsonV)
	}
	b, err := xml.MarshalIndent(xmlV, "", "  ")
	if err != nil {
		return fmt.Errorf("open311: encode XML: %w", err)
	}
	c.Set(fiber.HeaderContentType, open311XMLType)
	return c.Send(append(append([]byte(open311XMLHeader), b...), '\n'))
}

// open311Fail writes a GeoReport error list with status, in the request's
// format.
func open311Fail(c *fiber.Ctx, status int, description string) error {
	c.Status(status)
	errs := []open311Error{{Code: status, Description: description}}
	return open311Write(c, errs, xmlErrors{Errors: errs})
}
