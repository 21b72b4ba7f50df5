// The preview window of the live app (PreviewWindow): an OpenCV HighGUI window that shows the
// drawn frames and reports clicks, keys and its closing.
#include "renderer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/highgui.hpp>

#include "cotrack/error.hpp"
#include "render_internal.hpp"

namespace cotrack {

using render_detail::check_frame;

bool PreviewWindow::display_available() {
  for (const char* name : {"DISPLAY", "WAYLAND_DISPLAY"}) {
    const char* value = std::getenv(name);
    if (value != nullptr && value[0] != '\0') return true;
  }
  return false;
}

PreviewWindow::PreviewWindow(const std::string& title, int width, int height)
    : title_(title), image_width_(width), image_height_(height) {
  if (!display_available()) {
    throw Error(ExitCode::kRuntime,
                "preview window: no display (DISPLAY and WAYLAND_DISPLAY are unset); run "
                "without the preview or under Xvfb");
  }
  if (width <= 0 || height <= 0) {
    throw Error(ExitCode::kRuntime,
                fmt::format("preview window: size must be positive (got {}x{})", width, height));
  }
  cv::namedWindow(title_, cv::WINDOW_GUI_NORMAL | cv::WINDOW_KEEPRATIO);
  cv::resizeWindow(title_, width, height);
  cv::setMouseCallback(title_, &PreviewWindow::on_mouse, this);
}

PreviewWindow::~PreviewWindow() {
  try {
    cv::setMouseCallback(title_, nullptr, nullptr);
  } catch (const cv::Exception&) {
  }
  try {
    cv::destroyWindow(title_);
    cv::waitKey(1);  // lets HighGUI process the destruction
  } catch (const cv::Exception&) {
  }
}

void PreviewWindow::on_mouse(int event, int x, int y, int /*flags*/, void* self) {
  auto* window = static_cast<PreviewWindow*>(self);
  UiEvent e;
  if (event == cv::EVENT_LBUTTONDOWN) {
    e.kind = UiEvent::Kind::kLeftClick;
  } else if (event == cv::EVENT_RBUTTONDOWN) {
    e.kind = UiEvent::Kind::kRightClick;
  } else {
    return;
  }
  // HighGUI (Qt and GTK) already reports image pixels, scaled back when the window is resized.
  // A click on the letterbox of a resized window lies outside the image: it is passed on as it
  // is, for the caller to refuse with a notice (a clamped click would add a point on the edge).
  std::lock_guard<std::mutex> lock(window->mutex_);
  e.x = static_cast<float>(x);
  e.y = static_cast<float>(y);
  window->clicks_.push_back(e);
}

void PreviewWindow::show(const std::vector<uint8_t>& bgr, int width, int height) {
  check_frame("preview window", bgr.size(), width, height);
  if (closed_) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    image_width_ = width;
    image_height_ = height;
  }
  const cv::Mat img(height, width, CV_8UC3, const_cast<uint8_t*>(bgr.data()));
  cv::imshow(title_, img);
}

std::vector<UiEvent> PreviewWindow::poll(int wait_ms) {
  const int key = cv::waitKey(std::max(1, wait_ms));
  std::vector<UiEvent> events;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    events.swap(clicks_);
  }
  if (key >= 0) {
    UiEvent e;
    e.kind = UiEvent::Kind::kKey;
    e.key = key;
    events.push_back(e);
  }
  if (!closed_) {
    double visible = -1;
    try {
      visible = cv::getWindowProperty(title_, cv::WND_PROP_VISIBLE);
    } catch (const cv::Exception&) {
      visible = -1;
    }
    if (visible < 1) closed_ = true;
  }
  if (closed_ && !close_reported_) {
    close_reported_ = true;
    UiEvent e;
    e.kind = UiEvent::Kind::kClosed;
    events.push_back(e);
  }
  return events;
}

}  // namespace cotrack
