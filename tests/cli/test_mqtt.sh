#!/usr/bin/env bash
# Tracks on MQTT against a real mosquitto broker on 127.0.0.1: two synth streams deliver their
# final estimates as JSON on cotrack/STREAM/tracks, status is retained, commands on
# cotrack/STREAM/cmd are answered; killing and restarting the broker mid-stream loses no
# tracking frame (only messages, counted) and publishing resumes.
# Usage: test_mqtt.sh COTRACK
set -u
cotrack="$1"
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
failures=0
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
ok() { echo "ok   $*"; }
for tool in mosquitto mosquitto_sub mosquitto_pub mosquitto_passwd openssl python3; do
  command -v "$tool" >/dev/null || { echo "FAIL $tool missing (scripts/install-deps.sh)"; exit 1; }
done
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
broker() { mosquitto -p "$port" >>"$tmp/broker.log" 2>&1 & broker_pid=$!; pids+=($broker_pid); sleep 0.5; }
json() { grep -oE "\"$2\": [0-9.]+" "$1" | head -1 | awk '{print $2}'; }

# Counts the valid tracks messages of each stream in a mosquitto_sub -v file; prints
# "STREAM COUNT FIRST_FRAME LAST_FRAME" lines and "invalid N".
count() {
  python3 - "$1" <<'PY'
import json, sys
counts, first, last, invalid = {}, {}, {}, 0
for line in open(sys.argv[1]):
    topic, _, payload = line.rstrip("\n").partition(" ")
    if not topic.endswith("/tracks"):
        continue
    try:
        m = json.loads(payload)
        ok = (m["stream"] == topic.split("/")[1] and isinstance(m["frame"], int)
              and isinstance(m["timestamp"], int)
              and all(set(p) == {"id", "x", "y", "visible", "confidence"} for p in m["points"]))
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        invalid += 1
        continue
    s = m["stream"]
    counts[s] = counts.get(s, 0) + 1
    first.setdefault(s, m["frame"])
    last[s] = m["frame"]
for s in sorted(counts):
    print(s, counts[s], first[s], last[s])
print("invalid", invalid)
PY
}

# 1. Two streams for 10 s: >= 250 valid messages per stream; status retained; a command works.
broker
mosquitto_sub -h 127.0.0.1 -p "$port" -t 'cotrack/+/tracks' -t 'cotrack/+/result' -v >"$tmp/sub1" 2>&1 &
sub=$!; pids+=($sub)
sleep 0.3
"$cotrack" live --source synth:1 --source synth:2 --no-window --grid 4 --duration 10 \
  --mqtt "mqtt://127.0.0.1:$port/cotrack" --stats-json "$tmp/s1.json" --log-every 0 >"$tmp/out1" 2>&1 &
app=$!; pids+=($app)
for _ in $(seq 100); do grep -q '"stream"' "$tmp/sub1" && break; sleep 0.1; done
mosquitto_pub -h 127.0.0.1 -p "$port" -t cotrack/1/cmd -m '{"cmd": "add", "x": 100, "y": 90}'
mosquitto_pub -h 127.0.0.1 -p "$port" -t cotrack/0/cmd -m 'not json'
mosquitto_pub -h 127.0.0.1 -p "$port" -t cotrack/9/cmd -m '{"cmd": "clear"}'
wait "$app"; rc=$?
sleep 0.5
kill "$sub" 2>/dev/null
[ $rc -eq 0 ] || { fail "two streams: exit $rc"; cat "$tmp/out1"; }
count "$tmp/sub1" >"$tmp/c1"
for s in 0 1; do
  n=$(awk -v s="$s" '$1 == s {print $2}' "$tmp/c1")
  [ "${n:-0}" -ge 250 ] && ok "stream $s: $n valid JSON messages on cotrack/$s/tracks" \
    || fail "stream $s: ${n:-0} valid messages (want >= 250)"
done
grep -q "^invalid 0$" "$tmp/c1" || fail "invalid tracks messages: $(cat "$tmp/c1")"
grep -q 'cotrack/1/result {"cmd":"add","id":16,"ok":true}' "$tmp/sub1" \
  && ok "cmd add on stream 1: the new point's id (16) on cotrack/1/result" \
  || { fail "cmd add: $(grep result "$tmp/sub1")"; }
grep -q 'cotrack/0/result {"error":"expected a JSON object' "$tmp/sub1" \
  && grep -q "cotrack/9/result .*no stream named '9'" "$tmp/sub1" \
  && ok "bad commands get one clear answer" || fail "bad commands: $(grep result "$tmp/sub1")"
timeout 3 mosquitto_sub -h 127.0.0.1 -p "$port" -t 'cotrack/0/status' -C 1 >"$tmp/status" 2>&1
grep -q '"stream":"0".*"source_state":"stopped"' "$tmp/status" \
  && ok "the retained status says the stream stopped" || fail "status: $(cat "$tmp/status")"

# 2. The broker dies mid-stream and comes back: no tracking frame is lost, dropped messages are
#    counted (a queue of 20), publishing resumes, and the app reconnects.
mosquitto_sub -h 127.0.0.1 -p "$port" -t 'cotrack/+/tracks' -v >"$tmp/sub2" 2>&1 &
sub=$!; pids+=($sub)
sleep 0.3
"$cotrack" live --source synth:1 --no-window --grid 4 --duration 12 --mqtt-queue 20 \
  --mqtt "mqtt://127.0.0.1:$port/cotrack" --stats-json "$tmp/s2.json" --log-every 0 >"$tmp/out2" 2>&1 &
app=$!; pids+=($app)
for _ in $(seq 100); do grep -q '"stream"' "$tmp/sub2" && break; sleep 0.1; done
sleep 2
kill "$broker_pid"; wait "$broker_pid" 2>/dev/null
sleep 3
broker
wait "$app"; rc=$?
sleep 0.5
kill "$sub" 2>/dev/null
[ $rc -eq 0 ] || { fail "broker restart: exit $rc"; cat "$tmp/out2"; }
received=$(json "$tmp/s2.json" received); processed=$(json "$tmp/s2.json" processed)
dropped=$(grep -oE '"mqtt": \{[^}]*' "$tmp/s2.json" | grep -oE '"dropped": [0-9]+' | awk '{print $2}')
connects=$(grep -oE '"connects": [0-9]+' "$tmp/s2.json" | awk '{print $2}')
[ -n "$received" ] && [ "$received" = "$processed" ] && [ "$(json "$tmp/s2.json" dropped)" = "0" ] \
  && ok "broker restart: every frame tracked ($processed of $received)" \
  || fail "broker restart: frames lost: $(cat "$tmp/s2.json")"
[ "${dropped:-0}" -gt 0 ] && [ "${connects:-0}" -ge 2 ] \
  && ok "broker restart: $dropped messages dropped and counted, $connects connections" \
  || fail "broker restart: mqtt counters $(grep -oE '"mqtt": \{[^}]*\}' "$tmp/s2.json")"
grep -q "mqtt: lost" "$tmp/out2" && grep -q "mqtt: reconnected" "$tmp/out2" \
  && ok "broker restart: the log says lost and reconnected" || { fail "broker restart: log"; cat "$tmp/out2"; }
last=$(count "$tmp/sub2" | awk '$1 == 0 {print $4}')
[ "${last:-0}" -ge 300 ] && ok "broker restart: messages resume (last frame received $last)" \
  || fail "broker restart: last frame received ${last:-none}"

# 3. A fleet: two processes with their own prefixes on one broker (docs/deploy.md), started from
#    the example site config (its cameras replaced by synth streams); both streams arrive.
example="$(dirname "$0")/../../deploy/site.toml.example"
mosquitto_sub -h 127.0.0.1 -p "$port" -t 'fleet/+/+/tracks' -v >"$tmp/sub3" 2>&1 &
sub=$!; pids+=($sub)
sleep 0.3
for host in a b; do
  "$cotrack" live --config "$example" --source "synth:7" --width 320 --height 240 --duration 5 \
    --mqtt "mqtt://127.0.0.1:$port/fleet/$host" --log-every 0 >"$tmp/out3$host" 2>&1 &
  pids+=($!)
done
wait "${pids[@]: -2}"
sleep 0.5
kill "$sub" 2>/dev/null
for host in a b; do
  n=$(grep -c "^fleet/$host/0/tracks {" "$tmp/sub3")
  [ "$n" -ge 100 ] && ok "fleet: process $host delivered $n messages on fleet/$host/0/tracks" \
    || { fail "fleet: process $host delivered $n messages"; cat "$tmp/out3$host"; }
done

# 4. TLS with a user name and password: a broker with its own CA and a password file.
tls_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(
  cd "$tmp" || exit 1
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 \
    -subj "/CN=cotrack test CA" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=127.0.0.1" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\n' >san.ext
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt \
    -days 1 -extfile san.ext 2>/dev/null
  mosquitto_passwd -b -c pw.txt alice secret-words 2>/dev/null
  chmod 644 ca.crt server.crt server.key pw.txt
  printf 'listener %s 127.0.0.1\ncafile %s/ca.crt\ncertfile %s/server.crt\nkeyfile %s/server.key\n' \
    "$tls_port" "$tmp" "$tmp" "$tmp" >tls.conf
  printf 'allow_anonymous false\npassword_file %s/pw.txt\nuser root\n' "$tmp" >>tls.conf
)
mosquitto -c "$tmp/tls.conf" >"$tmp/tls-broker.log" 2>&1 &
pids+=($!)
sleep 0.7
mosquitto_sub -h 127.0.0.1 -p "$tls_port" --cafile "$tmp/ca.crt" -u alice -P secret-words \
  -t 'sec/+/tracks' -v >"$tmp/sub4" 2>&1 &
sub=$!; pids+=($sub)
sleep 0.5
"$cotrack" live --source synth:1 --no-window --grid 2 --width 320 --height 240 --duration 4 \
  --mqtt "mqtts://127.0.0.1:$tls_port/sec" --mqtt-cafile "$tmp/ca.crt" --mqtt-username alice \
  --mqtt-password secret-words --log-every 0 >"$tmp/out4" 2>&1
rc=$?
sleep 0.5
n=$(grep -c "^sec/0/tracks {" "$tmp/sub4")
[ $rc -eq 0 ] && [ "$n" -ge 100 ] && ok "mqtts with user and password: $n messages" \
  || { fail "mqtts: exit $rc, $n messages"; cat "$tmp/out4" "$tmp/tls-broker.log"; }
"$cotrack" live --source synth:1 --no-window --grid 2 --width 320 --height 240 --duration 3 \
  --mqtt "mqtts://alice:wrong@127.0.0.1:$tls_port/sec" --mqtt-cafile "$tmp/ca.crt" \
  --stats-json "$tmp/s4.json" --log-every 0 >"$tmp/out4b" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q "refused the connection" "$tmp/out4b" \
  && [ "$(json "$tmp/s4.json" processed)" = "$(json "$tmp/s4.json" received)" ] \
  && ok "a wrong password: one line, and tracking goes on" || { fail "wrong password"; cat "$tmp/out4b"; }
kill "$sub" 2>/dev/null

# 5. Bad settings: one line, exit 2.
"$cotrack" live --no-window --mqtt "http://x" >"$tmp/bad" 2>&1
[ $? -eq 2 ] && grep -q "expected mqtt://" "$tmp/bad" && ok "a bad URL is refused" \
  || { fail "bad URL"; cat "$tmp/bad"; }
"$cotrack" live --no-window --mqtt "mqtt://127.0.0.1:$port/a+b" >"$tmp/bad" 2>&1
[ $? -eq 2 ] && grep -q "must not contain" "$tmp/bad" && ok "a wildcard prefix is refused" \
  || { fail "wildcard prefix"; cat "$tmp/bad"; }

echo "$failures failure(s)"
[ $failures -eq 0 ]
