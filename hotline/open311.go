package hotline

import (
	"encoding/xml"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The Open311 GeoReport v2 mapping: categories are services (those with
// attributes have metadata), tickets are service requests. Field names and
// shapes follow GeoReport v2; ids are strings.

// Open311Service is one entry of services.json.
type Open311Service struct {
	ServiceCode string `json:"service_code" xml:"service_code"`
	ServiceName string `json:"service_name" xml:"service_name"`
	Description string `json:"description" xml:"description"`
	Metadata    bool   `json:"metadata" xml:"metadata"`
	Type        string `json:"type" xml:"type"`
	Keywords    string `json:"keywords" xml:"keywords"`
	Group       string `json:"group" xml:"group"`
}

// Open311Definition is services/{code}.json.
type Open311Definition struct {
	XMLName     xml.Name           `json:"-" xml:"service_definition"`
	ServiceCode string             `json:"service_code" xml:"service_code"`
	Attributes  []Open311Attribute `json:"attributes" xml:"attributes>attribute"`
}

// Open311Attribute is one attribute of a service definition.
type Open311Attribute struct {
	Variable            bool           `json:"variable" xml:"variable"`
	Code                string         `json:"code" xml:"code"`
	Datatype            string         `json:"datatype" xml:"datatype"`
	Required            bool           `json:"required" xml:"required"`
	DatatypeDescription string         `json:"datatype_description" xml:"datatype_description"`
	Order               int            `json:"order" xml:"order"`
	Description         string         `json:"description" xml:"description"`
	Values              []Open311Value `json:"values,omitempty" xml:"values>value"`
}

// Open311Value is one listed value of an attribute.
type Open311Value struct {
	Key  string `json:"key" xml:"key"`
	Name string `json:"name" xml:"name"`
}

// Open311Request is one service request of requests.json.
type Open311Request struct {
	ServiceRequestID  string   `json:"service_request_id" xml:"service_request_id"`
	Status            string   `json:"status" xml:"status"` // open or closed
	StatusNotes       string   `json:"status_notes" xml:"status_notes"`
	ServiceName       string   `json:"service_name" xml:"service_name"`
	ServiceCode       string   `json:"service_code" xml:"service_code"`
	Description       string   `json:"description" xml:"description"`
	AgencyResponsible string   `json:"agency_responsible" xml:"agency_responsible"`
	ServiceNotice     string   `json:"service_notice" xml:"service_notice"`
	RequestedDatetime string   `json:"requested_datetime" xml:"requested_datetime"`
	UpdatedDatetime   string   `json:"updated_datetime" xml:"updated_datetime"`
	ExpectedDatetime  string   `json:"expected_datetime" xml:"expected_datetime"`
	Address           string   `json:"address" xml:"address"`
	AddressID         string   `json:"address_id" xml:"address_id"`
	Zipcode           string   `json:"zipcode" xml:"zipcode"`
	Lat               *float64 `json:"lat" xml:"lat"`
	Long              *float64 `json:"long" xml:"long"`
	MediaURL          string   `json:"media_url" xml:"media_url"`
}

// Open311Created is the answer to POST requests.json.
type Open311Created struct {
	ServiceRequestID string  `json:"service_request_id" xml:"service_request_id"`
	Token            string  `json:"token" xml:"token"`
	ServiceNotice    string  `json:"service_notice" xml:"service_notice"`
	AccountID        *string `json:"account_id" xml:"account_id"`
}

// Open311Token is the answer to tokens/{token}.json.
type Open311Token struct {
	ServiceRequestID string `json:"service_request_id" xml:"service_request_id"`
	Token            string `json:"token" xml:"token"`
}

// Open311Services lists the categories as services, in code order.
func (t *Taxonomy) Open311Services() []Open311Service {
	out := make([]Open311Service, 0, len(t.categories))
	for _, c := range t.categories {
		var dom Domain
		for _, d := range t.Domains {
			if d.Code == c.Domain {
				dom = d
			}
		}
		kw := c.Keywords
		if len(kw) > 8 {
			kw = kw[:8]
		}
		dept, _ := t.Department(c.Department)
		out = append(out, Open311Service{ServiceCode: c.Code, ServiceName: c.NameZh + " " + c.Name,
			Description: fmt.Sprintf("%s (%s). %s %s.", c.Path, c.PathEn, dept.NameZh, dept.Name),
			Metadata:    len(c.Attributes) > 0, Type: "realtime", Keywords: strings.Join(kw, ","), Group: dom.NameZh + " " + dom.Name})
	}
	return out
}

// Open311Definition returns the definition of the service with code.
func (t *Taxonomy) Open311Definition(code string) (Open311Definition, bool) {
	c, ok := t.Category(code)
	if !ok {
		return Open311Definition{}, false
	}
	d := Open311Definition{ServiceCode: c.Code, Attributes: []Open311Attribute{}}
	for i, a := range c.Attributes {
		var vals []Open311Value
		for _, v := range a.Values {
			vals = append(vals, Open311Value(v))
		}
		d.Attributes = append(d.Attributes, Open311Attribute{Variable: true, Code: a.Code, Datatype: a.Datatype, Required: a.Required,
			DatatypeDescription: datatypeDescription(a.Datatype), Order: i + 1, Description: a.Description, Values: vals})
	}
	return d, true
}

func datatypeDescription(dt string) string {
	switch dt {
	case "number":
		return "a number"
	case "datetime":
		return "a date and time, e.g. 2026-03-01T08:00:00+08:00"
	case "singlevaluelist":
		return "one of the listed keys"
	case "multivaluelist":
		return "one or more of the listed keys"
	}
	return ""
}

// CheckAttributes validates the attribute[code] values of an Open311 post
// against the category's attributes and returns them as stored.
func (t *Taxonomy) CheckAttributes(code string, given map[string][]string) (map[string]string, error) {
	c, ok := t.Category(code)
	if !ok {
		return nil, &InputError{"service_code", fmt.Sprintf("unknown service_code %q", code)}
	}
	out := map[string]string{}
	for name := range given {
		if !slices.ContainsFunc(c.Attributes, func(a Attribute) bool { return a.Code == name }) {
			return nil, &InputError{"attribute[" + name + "]", "is not an attribute of service " + code}
		}
	}
	for _, a := range c.Attributes {
		vals := given[a.Code]
		field := "attribute[" + a.Code + "]"
		if len(vals) == 0 || (len(vals) == 1 && strings.TrimSpace(vals[0]) == "") {
			if a.Required {
				return nil, &InputError{field, "is required for service " + code}
			}
			continue
		}
		keyOK := func(v string) bool {
			return slices.ContainsFunc(a.Values, func(x AttributeValue) bool { return x.Key == v })
		}
		switch a.Datatype {
		case "singlevaluelist":
			if len(vals) != 1 || !keyOK(vals[0]) {
				return nil, &InputError{field, "must be one of the listed keys"}
			}
		case "multivaluelist":
			for _, v := range vals {
				if !keyOK(v) {
					return nil, &InputError{field, fmt.Sprintf("%q is not a listed key", v)}
				}
			}
		case "number":
			if _, err := strconv.ParseFloat(vals[0], 64); err != nil || len(vals) != 1 {
				return nil, &InputError{field, "must be a number"}
			}
		case "datetime":
			if _, err := time.Parse(time.RFC3339, vals[0]); err != nil || len(vals) != 1 {
				return nil, &InputError{field, "must be a date and time such as 2026-03-01T08:00:00+08:00"}
			}
		default:
			if len(vals) != 1 || len([]rune(vals[0])) > 1000 {
				return nil, &InputError{field, "must be one value of at most 1000 characters"}
			}
		}
		out[a.Code] = strings.Join(vals, ",")
	}
	return out, nil
}

// Open311DateLayout is GeoReport's date format (W3C, with the offset).
const Open311DateLayout = "2006-01-02T15:04:05-07:00"

// Open311 renders a ticket as a GeoReport service request, times in loc.
func (t Ticket) Open311(loc *time.Location) Open311Request {
	r := Open311Request{ServiceRequestID: t.ID, Status: "open", StatusNotes: statusNotes(t), ServiceName: t.CategoryName.Zh + " " + t.CategoryName.En,
		ServiceCode: t.Category, Description: t.Text, AgencyResponsible: t.DepartmentName.Zh + " " + t.DepartmentName.En,
		ServiceNotice:     t.ServiceNotice(loc),
		RequestedDatetime: t.ReceivedAt.In(loc).Format(Open311DateLayout), UpdatedDatetime: t.UpdatedAt.In(loc).Format(Open311DateLayout),
		ExpectedDatetime: t.Deadline.In(loc).Format(Open311DateLayout), MediaURL: t.Attributes["media_url"], AddressID: t.Attributes["address_id"]}
	r.Status = Open311Status(t.Status)
	if r.Status == "closed" && t.ClosedAt != nil {
		r.UpdatedDatetime = t.ClosedAt.In(loc).Format(Open311DateLayout)
	}
	if t.Location != nil {
		r.Address, r.Lat, r.Long = t.Location.Address, t.Location.Lat, t.Location.Lon
	}
	return r
}

// ServiceNotice tells the citizen what happens next, in both languages.
func (t Ticket) ServiceNotice(loc *time.Location) string {
	d := t.Deadline.In(loc)
	return fmt.Sprintf("已转%s，%s前办结。Sent to the %s; due by %s.", t.DepartmentName.Zh, formatTime(d, LangZh), t.DepartmentName.En, formatTime(d, LangEn))
}

// statusNotes explains a ticket's status to the citizen (GeoReport
// status_notes), in both languages: where it is in the lifecycle, the
// department's reply once there is one, and supervision of overdue work.
func statusNotes(t Ticket) string {
	var lc LifecycleView
	if t.Lifecycle != nil {
		lc = *t.Lifecycle
	}
	note := ""
	switch t.Status {
	case StatusTriaged:
		note = "已受理，待派单。Received; not yet dispatched."
	case StatusPendingApproval:
		note = "已受理，派单待审批。Received; dispatch awaiting approval."
	case StatusDispatched:
		note = "已派单至承办单位。Dispatched to the department."
	case StatusDispatchRejected, StatusDispatchExpired, StatusDispatchFailed:
		note = "派单未完成，热线中心将重新派单。Dispatch did not go through; the hotline centre will reassign it."
	case StatusAccepted:
		note = "承办单位已签收。Accepted by the department."
	case StatusInProgress:
		note = "承办单位正在办理。Being handled by the department."
	case StatusReturned:
		note = "承办单位退回，热线中心将重新派单。Returned by the department; the hotline centre will reassign it."
	case StatusReplied:
		return "承办单位已答复，待回访。Replied; a return visit follows. " + t.Resolution
	case StatusReopened:
		note = "回访未满意，已重新办理。Reopened after the return visit."
	case StatusMerged:
		return "重复诉求，已并入" + lc.MergedInto + "。Duplicate request; merged into " + lc.MergedInto + "."
	case StatusClosed:
		return "已办结：" + t.Resolution
	}
	if lc.Overdue {
		note += " 已超期，已督办。Overdue; escalated to the supervisor."
	}
	return note
}

// Open311Post is a POST requests.json form, decoded.
type Open311Post struct {
	ServiceCode string
	Lat, Long   *float64
	Address     string
	AddressID   string
	Description string
	Email       string
	FirstName   string
	LastName    string
	Phone       string
	AccountID   string
	DeviceID    string
	MediaURL    string
	Attributes  map[string][]string
}

// ParseOpen311Post decodes a POST requests.json form (api_key and
// jurisdiction_id are the caller's business). Unknown fields are errors.
func ParseOpen311Post(form url.Values) (Open311Post, error) {
	p := Open311Post{Attributes: map[string][]string{}}
	one := func(name string) (string, error) {
		v := form[name]
		if len(v) > 1 {
			return "", &InputError{name, "must be given once"}
		}
		if len(v) == 0 {
			return "", nil
		}
		if msg := textProblem(v[0]); msg != "" {
			return "", &InputError{name, msg}
		}
		return strings.TrimSpace(v[0]), nil
	}
	fields := map[string]*string{"service_code": &p.ServiceCode, "address_string": &p.Address, "address_id": &p.AddressID,
		"description": &p.Description, "email": &p.Email, "first_name": &p.FirstName, "last_name": &p.LastName, "phone": &p.Phone,
		"account_id": &p.AccountID, "device_id": &p.DeviceID, "media_url": &p.MediaURL}
	var coords [2]string
	for name, vals := range form {
		switch {
		case name == "api_key" || name == "jurisdiction_id":
		case name == "lat" || name == "long":
		case strings.HasPrefix(name, "attribute[") && strings.HasSuffix(name, "]"):
			code := strings.TrimSuffix(strings.TrimPrefix(name, "attribute["), "]")
			code = strings.TrimSuffix(code, "][") // attribute[code][] for lists
			for _, v := range vals {
				if msg := textProblem(v); msg != "" {
					return Open311Post{}, &InputError{name, msg}
				}
			}
			p.Attributes[code] = append(p.Attributes[code], vals...)
		default:
			if _, ok := fields[name]; !ok {
				return Open311Post{}, &InputError{name, "is not a GeoReport v2 field"}
			}
		}
	}
	for name, dst := range fields {
		v, err := one(name)
		if err != nil {
			return Open311Post{}, err
		}
		*dst = v
	}
	var err error
	if coords[0], err = one("lat"); err != nil {
		return Open311Post{}, err
	}
	if coords[1], err = one("long"); err != nil {
		return Open311Post{}, err
	}
	if p.ServiceCode == "" {
		return Open311Post{}, &InputError{"service_code", "is required"}
	}
	if (coords[0] == "") != (coords[1] == "") {
		return Open311Post{}, &InputError{"lat", "lat and long go together"}
	}
	if coords[0] != "" {
		lat, err1 := strconv.ParseFloat(coords[0], 64)
		lon, err2 := strconv.ParseFloat(coords[1], 64)
		if err1 != nil || err2 != nil {
			return Open311Post{}, &InputError{"lat", "lat and long must be numbers"}
		}
		p.Lat, p.Long = &lat, &lon
	}
	if p.Lat == nil && p.Address == "" && p.AddressID == "" {
		return Open311Post{}, &InputError{"lat", "a location is required: lat and long, address_string or address_id"}
	}
	if n := len([]rune(p.Description)); n > MaxTextRunes {
		return Open311Post{}, &InputError{"description", fmt.Sprintf("must be at most %d characters", MaxTextRunes)}
	}
	if p.MediaURL != "" {
		u, err := url.Parse(p.MediaURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(p.MediaURL) > 2000 {
			return Open311Post{}, &InputError{"media_url", "must be an http(s) URL"}
		}
	}
	return p, nil
}

// CreateRequest turns the post into a hotline request for category c, with
// its checked attributes. A post without a description is described by its
// service and attributes.
func (p Open311Post) CreateRequest(t *Taxonomy, attrs map[string]string) (CreateRequest, map[string]string) {
	c, _ := t.Category(p.ServiceCode)
	text := p.Description
	if text == "" {
		var parts []string
		parts = append(parts, c.NameZh+" "+c.Name)
		for _, a := range c.Attributes {
			v, ok := attrs[a.Code]
			if !ok {
				continue
			}
			for _, x := range a.Values {
				if x.Key == v {
					v = x.Name
				}
			}
			parts = append(parts, a.Description+": "+v)
		}
		text = strings.Join(parts, "; ")
	}
	req := CreateRequest{Text: text, Channel: "open311"}
	if p.Lat != nil || p.Address != "" {
		req.Location = &Location{Address: p.Address, Lat: p.Lat, Lon: p.Long}
	}
	name := strings.TrimSpace(p.LastName + p.FirstName)
	if p.FirstName != "" && p.LastName != "" && !hasHan(name) {
		name = p.FirstName + " " + p.LastName
	}
	if name != "" || p.Phone != "" || p.Email != "" || p.AccountID != "" {
		req.Caller = &Caller{Name: name, Phone: p.Phone, Email: p.Email, AccountID: p.AccountID}
	}
	out := map[string]string{}
	for k, v := range attrs {
		out[k] = v
	}
	if p.AddressID != "" {
		out["address_id"] = p.AddressID
	}
	if p.MediaURL != "" {
		out["media_url"] = p.MediaURL
	}
	if p.DeviceID != "" {
		out["device_id"] = p.DeviceID
	}
	if len(out) == 0 {
		out = nil
	}
	return req, out
}
