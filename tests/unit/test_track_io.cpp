// points.csv and tracks.csv: round trips through the writers and readers, and malformed files.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <string>

#include "cotrack/error.hpp"
#include "cotrack/track_io.hpp"

namespace {

std::string temp_file(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / ("cotrack_io_" + name);
  std::ofstream(path) << text;
  return path.string();
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const cotrack::InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("track io: tracks.csv written by both writers reads back") {
    cotrack::TrackTable t;
    t.frames = 3;
    t.points = 2;
    for (int i = 0; i < 6; ++i) {
      t.x_px.push_back(1.25f * i);
      t.y_px.push_back(100.5f - i);
      t.visibility.push_back(0.5f);
      t.confidence.push_back(0.125f * i);
      t.visible.push_back(i % 2);
    }
    const std::string a = temp_file("a.csv", "");
    cotrack::write_tracks_csv(t, a, {7, 9});
    const auto back = cotrack::read_tracks_csv(a, {7, 9}, 3);
    CHECK(back.x_px == t.x_px);
    CHECK(back.y_px == t.y_px);
    CHECK(back.visible == t.visible);
    CHECK(back.confidence == t.confidence);

    const std::string b = temp_file("b.csv", "");
    {
      cotrack::TrackWriter w(b);
      for (int f = 0; f < 3; ++f) {
        cotrack::FrameEstimates fe;
        fe.frame_index = f;
        for (int n = 0; n < 2; ++n) {
          const size_t i = t.index(f, n);
          cotrack::PointEstimate e;
          e.id = n == 0 ? 7 : 9;
          e.x_px = t.x_px[i];
          e.y_px = t.y_px[i];
          e.confidence = t.confidence[i];
          e.visible = t.visible[i] != 0;
          fe.points.push_back(e);
        }
        w.write(fe);
      }
      CHECK(w.rows() == 6);
    }  // destroyed without close(): every frame was already flushed
    const auto streamed = cotrack::read_tracks_csv(b, {7, 9}, 3);
    CHECK(streamed.x_px == t.x_px);
    CHECK(streamed.visible == t.visible);
    std::filesystem::remove(a);
    std::filesystem::remove(b);
  }

  TEST_CASE("track io: malformed files name the file and line") {
    const std::string p = temp_file("p.csv", "point_id,frame,x,y\n0,0,1,2\n1,2.5,1,2\n");
    CHECK(error_of([&] { cotrack::read_points_csv(p); }).find("p.csv:3") != std::string::npos);
    const std::string h = temp_file("h.csv", "id,frame,x,y\n");
    CHECK(error_of([&] { cotrack::read_points_csv(h); }).find("header") != std::string::npos);
    const std::string e = temp_file("e.csv", "\n# nothing\n");
    CHECK(error_of([&] { cotrack::read_points_csv(e); }).find("empty") != std::string::npos);
    const std::string n = temp_file("n.csv", "point_id,frame,x,y\n0,0,nan,2\n");
    CHECK(error_of([&] { cotrack::read_points_csv(n); }).find("finite") != std::string::npos);
    const std::string t = temp_file("t.csv",
                                    "point_id,frame,x,y,visible\n0,0,1,1,1\n0,1,1,1,2\n");
    CHECK(error_of([&] { cotrack::read_tracks_csv(t, {0}, 2); }).find("t.csv:3") !=
          std::string::npos);
    const std::string m = temp_file("m.csv", "point_id,frame,x,y,visible\n0,0,1,1,1\n");
    CHECK(error_of([&] { cotrack::read_tracks_csv(m, {0}, 2); }).find("no row") !=
          std::string::npos);
    CHECK(error_of([&] { cotrack::read_points_csv("/nonexistent/x.csv"); })
              .find("cannot open") != std::string::npos);
    // An id beyond int range was cast to int (undefined behaviour; found by fuzz_tracks_csv).
    const std::string b = temp_file("b.csv", "point_id,frame,x,y,visible\n1e20,0,1,1,1\n");
    CHECK(error_of([&] { cotrack::read_tracks_csv(b, {0}, 1); }).find("unknown point_id") !=
          std::string::npos);
    for (const auto& f : {p, h, e, n, t, m, b}) std::filesystem::remove(f);
  }
}
