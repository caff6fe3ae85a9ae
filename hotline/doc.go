// Package hotline triages citizens' requests to a 12345 / 311 hotline:
// what kind of request it is, which category and department, how urgent,
// by when, and a draft reply with sources. The rules are data (a taxonomy
// YAML shipped for the demo city and replaceable by config); a model fills
// the hotline_triage tool whose schema carries that taxonomy, a
// deterministic classifier checks it and answers alone when the model is
// slow, down or wrong. Tickets are stored with payment-API idempotency, and
// dispatch goes through governance (the hotline.dispatch_ticket action).
// It also maps tickets to Open311 GeoReport v2 service requests.
package hotline
