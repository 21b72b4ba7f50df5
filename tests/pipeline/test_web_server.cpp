// The browser view's pieces that need no running app: the address and token rules and the
// /api/tracks document. The server end to end is tests/cli/test_serve.py.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "cotrack/error.hpp"
#include "web_server.hpp"

using namespace cotrack;

TEST_CASE("serve: addresses, loopback and tokens") {
  ServeConfig a = ServeConfig::parse("127.0.0.1:8091");
  CHECK(a.host == "127.0.0.1");
  CHECK(a.port == 8091);
  CHECK(a.loopback());
  CHECK(ServeConfig::parse(":9000").host == "127.0.0.1");
  CHECK(ServeConfig::parse("9000").port == 9000);
  CHECK_FALSE(ServeConfig::parse("0.0.0.0:8092").loopback());
  CHECK_FALSE(ServeConfig::parse("192.168.1.5:80").loopback());
  CHECK(ServeConfig::parse("127.1.2.3:80").loopback());
  const ServeConfig v6 = ServeConfig::parse("[::1]:8080");
  CHECK(v6.host == "::1");
  CHECK(v6.loopback());
  for (const char* bad : {"", "host:", ":-1", ":70000", "1.2.3.4:8o", "::1:80", "[::1]8080"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(ServeConfig::parse(bad), UsageError);
  }
  ServeConfig c = ServeConfig::parse("not-an-ip:80");
  CHECK_THROWS_AS(c.validate(), UsageError);
  c = ServeConfig::parse("127.0.0.1:80");
  c.token = "short";
  CHECK_THROWS_AS(c.validate(), UsageError);
  c.token = "with space in it";
  CHECK_THROWS_AS(c.validate(), UsageError);
  c.token = generate_token();
  CHECK(c.token.size() == 32);
  CHECK(c.token != generate_token());
  CHECK_NOTHROW(c.validate());
}

TEST_CASE("serve: /api/tracks gives each point's estimate on the view's frame") {
  LiveView v;
  v.frame_index = 10;
  v.seq = 42;
  v.width = 64;
  v.height = 48;
  auto snap = std::make_shared<Snapshot>();
  Snapshot::Track t;
  t.id = 3;
  for (int64_t f : {8, 9, 10, 11}) {
    PointEstimate e;
    e.id = 3;
    e.x_px = static_cast<float>(f);
    e.y_px = 2.f;
    e.visible = f != 9;
    e.confidence = 0.5f;
    e.estimated = true;
    t.frames.push_back(f);
    t.estimates.push_back(e);
  }
  snap->tracks.push_back(t);
  Snapshot::Track fresh;  // added on a later frame: only its query position so far
  fresh.id = 4;
  PointEstimate q;
  q.id = 4;
  q.x_px = 30.f;
  q.y_px = 20.f;
  fresh.frames.push_back(12);
  fresh.estimates.push_back(q);
  snap->tracks.push_back(fresh);
  v.tracks = snap;
  const auto j = nlohmann::json::parse(tracks_json(v));
  CHECK(j["frame"] == 42);
  CHECK(j["width"] == 64);
  REQUIRE(j["tracks"].size() == 2);
  CHECK(j["tracks"][0]["id"] == 3);
  CHECK(j["tracks"][0]["x"] == 10.0);  // frame 10's estimate, not the newest (11)
  CHECK(j["tracks"][0]["visible"] == true);
  CHECK(j["tracks"][1]["x"] == 30.0);
  CHECK(j["tracks"][1]["estimated"] == false);
}
