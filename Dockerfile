# cityagent in a container: one static Go binary (no cgo) on a small base with
# wget for the health check. Build: docker build -t cityagent . (compose.yaml
# does it for you).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/cityagent ./cmd/cityagent

FROM alpine:3.22
RUN adduser -D -u 10001 cityagent && mkdir /data && chown cityagent /data
COPY --from=build /out/cityagent /usr/local/bin/cityagent
USER cityagent
ENV CITYAGENT_ADDR=0.0.0.0:8080 CITYAGENT_DATA=/data
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=6 CMD wget -qO- http://127.0.0.1:8080/readyz >/dev/null || exit 1
ENTRYPOINT ["cityagent"]
CMD ["serve"]
