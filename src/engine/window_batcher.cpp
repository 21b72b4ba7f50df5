#include "engine/window_batcher.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "cotrack/error.hpp"

namespace cotrack {

WindowBatcher::WindowBatcher(const Network& net, int max_batch, std::chrono::microseconds max_wait)
    : net_(net), max_batch_(max_batch), max_wait_(max_wait) {
  if (max_batch < 1) {
    throw UsageError(fmt::format("window batcher: max_batch must be >= 1 (got {})", max_batch));
  }
}

WindowOutput WindowBatcher::run(const WindowJob& job, StageTimes* times) {
  std::unique_lock<std::mutex> lock(mu_);
  const bool joins = open_ && open_->jobs.front()->iters == job.iters &&
                     open_->jobs.front()->bf16 == job.bf16;
  const bool leader = !joins;
  std::shared_ptr<Batch> batch;
  if (leader) {
    // A window of other settings does not wait for the open batch: it starts its own, and the
    // open one keeps collecting until its leader closes it.
    batch = std::make_shared<Batch>();
    if (!open_) open_ = batch;
  } else {
    batch = open_;
  }
  const size_t slot = batch->jobs.size();
  batch->jobs.push_back(&job);
  if (open_ == batch && static_cast<int>(batch->jobs.size()) >= max_batch_) {
    open_.reset();  // full
    cv_.notify_all();
  }
  if (leader) {
    cv_.wait_for(lock, max_wait_, [&] { return open_ != batch; });
    if (open_ == batch) open_.reset();
    stats_.batches += 1;
    stats_.windows += static_cast<int64_t>(batch->jobs.size());
    stats_.largest = std::max(stats_.largest, static_cast<int>(batch->jobs.size()));
    lock.unlock();
    try {
      compute(*batch);
    } catch (...) {
      batch->error = std::current_exception();
    }
    lock.lock();
    batch->done = true;
    cv_.notify_all();
  } else {
    cv_.wait(lock, [&] { return batch->done; });
  }
  if (batch->error) std::rethrow_exception(batch->error);
  if (times) {
    const double share = 1.0 / static_cast<double>(batch->jobs.size());
    times->correlation_ms += batch->times.correlation_ms * share;
    times->transformer_ms += batch->times.transformer_ms * share;
  }
  return std::move(batch->results[slot]);
}

WindowBatcherStats WindowBatcher::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void WindowBatcher::compute(Batch& batch) const {
  const auto& jobs = batch.jobs;
  const int64_t B = static_cast<int64_t>(jobs.size());
  batch.results.resize(jobs.size());
  auto last_only = [](WindowOutput out) {
    WindowOutput r;
    r.coords.push_back(out.coords.back());
    r.vis.push_back(out.vis.back());
    r.conf.push_back(out.conf.back());
    return r;
  };
  const WindowJob& first = *jobs.front();
  if (B == 1) {
    batch.results[0] = last_only(net_.forward_window(first.pyramid, first.coords, first.support,
                                                     first.vis, first.conf, first.iters, nullptr,
                                                     &batch.times));
    return;
  }
  int64_t n_max = 0;
  for (const WindowJob* j : jobs) n_max = std::max(n_max, j->coords.size(2));
  // Pads dimension `dim` of t (N tracks) with zeros to n_max.
  auto pad = [n_max](const at::Tensor& t, int64_t dim) {
    const int64_t missing = n_max - t.size(dim);
    if (missing == 0) return t;
    std::vector<int64_t> shape = t.sizes().vec();
    shape[static_cast<size_t>(dim)] = missing;
    return at::cat({t, at::zeros(shape, t.options())}, dim);
  };
  std::vector<at::Tensor> pyramid, support;
  for (size_t l = 0; l < first.pyramid.size(); ++l) {
    std::vector<at::Tensor> p, s;
    for (const WindowJob* j : jobs) {
      p.push_back(j->pyramid[l]);
      s.push_back(pad(j->support[l], 3));
    }
    pyramid.push_back(at::cat(p, 0));
    support.push_back(at::cat(s, 0));
  }
  std::vector<at::Tensor> coords, vis, conf;
  at::Tensor mask = at::zeros({B, n_max}, at::TensorOptions().dtype(at::kBool));
  for (int64_t b = 0; b < B; ++b) {
    const WindowJob& j = *jobs[static_cast<size_t>(b)];
    coords.push_back(pad(j.coords, 2));
    vis.push_back(pad(j.vis, 2));
    conf.push_back(pad(j.conf, 2));
    mask[b].narrow(0, 0, j.coords.size(2)).fill_(true);
  }
  mask = mask.to(first.coords.device());
  WindowOutput out =
      net_.forward_window(pyramid, at::cat(coords, 0), support, at::cat(vis, 0),
                          at::cat(conf, 0), first.iters, nullptr, &batch.times, &mask);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = jobs[static_cast<size_t>(b)]->coords.size(2);
    WindowOutput r;
    r.coords.push_back(out.coords.back().narrow(0, b, 1).narrow(2, 0, n));
    r.vis.push_back(out.vis.back().narrow(0, b, 1).narrow(2, 0, n));
    r.conf.push_back(out.conf.back().narrow(0, b, 1).narrow(2, 0, n));
    batch.results[static_cast<size_t>(b)] = std::move(r);
  }
}

}  // namespace cotrack
