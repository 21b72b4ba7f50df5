// Training: a step reduces the loss on its batch, and save -> resume continues identically.
#include "test_common.hpp"

#include <unistd.h>

#include <filesystem>

#include "cotrack/error.hpp"
#include "cotrack/model.hpp"
#include "cotrack/training.hpp"

namespace {

cotrack::TrainConfig tiny_config() {
  cotrack::TrainConfig c;
  c.preset = "cotrack-small";
  c.steps = 1000;  // only sets the schedule; tests run a few steps
  c.clip_frames = 12;
  c.points = 16;
  c.iters = 2;
  c.warmup_fraction = 0;  // full learning rate from the first step
  c.lr = 1e-4;  // small enough for one Adam step (every weight moves by ~lr) to stay first-order
  c.seed = 5;
  c.threads = 1;
  c.device = "cpu";
  return c;
}

}  // namespace

TEST_SUITE("train") {
  TEST_CASE("training: one step reduces the loss on its own batch") {
    // Both space-attention designs: virtual tracks (CoTracker3) and group attention.
    for (const std::string preset : {"cotrack-small", "cotrack-small-group"}) {
      CAPTURE(preset);
      cotrack::TrainConfig config = tiny_config();
      config.preset = preset;
      cotrack::Trainer trainer(config);
      const auto before = trainer.evaluate(0);
      const auto stats = trainer.step();
      const auto after = trainer.evaluate(0);
      MESSAGE(preset << ": loss " << before.loss << " -> " << after.loss << ", grad norm "
                     << stats.grad_norm);
      CHECK(stats.loss == doctest::Approx(before.loss).epsilon(1e-5));
      CHECK(std::isfinite(stats.grad_norm));
      CHECK(stats.grad_norm > 0);
      CHECK(after.loss < before.loss);
    }
  }

  TEST_CASE("training: save and resume give the identical next step") {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("cotrack_train_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string ckpt = (dir / "checkpoint.ckpt").string();
    cotrack::Trainer a(tiny_config());
    a.step();
    a.step();
    a.save(ckpt);
    const auto next_a = a.step();
    cotrack::Trainer b = cotrack::Trainer::resume(ckpt, tiny_config());
    CHECK(b.current_step() == 2);
    const auto next_b = b.step();
    // A training checkpoint also loads as a model (its "model." weights, optimiser state skipped).
    cotrack::Model m = cotrack::Model::load(ckpt);
    CHECK(m.info().format == "cotrack training checkpoint");
    CHECK(m.config().preset == "cotrack-small");
    std::filesystem::remove_all(dir);
    MESSAGE("step 3 loss " << next_a.loss << " vs resumed " << next_b.loss);
    CHECK(next_a.loss == next_b.loss);
    CHECK(next_a.grad_norm == next_b.grad_norm);
  }

  TEST_CASE("training: a calibrated visibility rule is stored, kept on resume, and read") {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("cotrack_train_vis_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string ckpt = (dir / "checkpoint.ckpt").string();
    const std::string model = (dir / "model.cotrack").string();
    cotrack::Trainer plain(tiny_config());
    plain.save(ckpt);
    CHECK(cotrack::Model::load(ckpt).default_visibility_threshold() == doctest::Approx(0.6));
    cotrack::TrainConfig config = tiny_config();
    config.visibility_threshold = 0.25;
    cotrack::Trainer a = cotrack::Trainer::resume(ckpt, config);
    a.save(ckpt);
    a.export_model(model);
    CHECK(cotrack::Model::load(ckpt).default_visibility_threshold() == doctest::Approx(0.25));
    CHECK(cotrack::Model::load(model).default_visibility_threshold() == doctest::Approx(0.25));
    // Resumed without a threshold: the checkpoint's stays.
    cotrack::Trainer b = cotrack::Trainer::resume(ckpt, tiny_config());
    b.save(ckpt);
    CHECK(cotrack::Model::load(ckpt).default_visibility_threshold() == doctest::Approx(0.25));
    cotrack::TrainConfig bad = tiny_config();
    bad.visibility_threshold = 1.5;
    CHECK_THROWS_AS(cotrack::Trainer::resume(ckpt, bad), cotrack::UsageError);
    // The confidence weight of the rule, the same way.
    CHECK(cotrack::Model::load(ckpt).default_confidence_weight() == doctest::Approx(1.0));
    cotrack::TrainConfig weighted = tiny_config();
    weighted.confidence_weight = 0.0;
    cotrack::Trainer c = cotrack::Trainer::resume(ckpt, weighted);
    c.save(ckpt);
    c.export_model(model);
    CHECK(cotrack::Model::load(ckpt).default_confidence_weight() == doctest::Approx(0.0));
    CHECK(cotrack::Model::load(model).default_confidence_weight() == doctest::Approx(0.0));
    cotrack::Trainer d = cotrack::Trainer::resume(ckpt, tiny_config());
    d.save(ckpt);
    CHECK(cotrack::Model::load(ckpt).default_confidence_weight() == doctest::Approx(0.0));
    CHECK(cotrack::Model::load(ckpt).default_visibility_threshold() == doctest::Approx(0.25));
    bad = tiny_config();
    bad.confidence_weight = 2.0;
    CHECK_THROWS_AS(cotrack::Trainer::resume(ckpt, bad), cotrack::UsageError);
    std::filesystem::remove_all(dir);
  }

  TEST_CASE("training: a bf16 step matches the fp32 step's loss and keeps fp32 weights") {
    cotrack::Trainer fp32(tiny_config());
    cotrack::TrainConfig config = tiny_config();
    config.precision = "bf16";
    cotrack::Trainer bf16(config);
    const auto a = fp32.evaluate(0);
    const auto first = bf16.step();  // the same clip (step 0) under autocast
    MESSAGE("loss fp32 " << a.loss << ", bf16 " << first.loss);
    CHECK(std::isfinite(first.loss));
    CHECK(first.loss == doctest::Approx(a.loss).epsilon(0.05));
    CHECK(first.error_px == doctest::Approx(a.error_px).epsilon(0.05));
    const auto second = bf16.step();
    CHECK(std::isfinite(second.loss));
    const std::string dir = (std::filesystem::temp_directory_path() /
                             ("cotrack_train_bf16_test_" + std::to_string(::getpid())))
                                .string();
    std::filesystem::create_directories(dir);
    bf16.export_model(dir + "/model.cotrack");
    CHECK(cotrack::inspect_model(dir + "/model.cotrack").dtype == "float32");
    std::filesystem::remove_all(dir);
    config.precision = "fp16";
    CHECK_THROWS_AS(cotrack::Trainer{config}, cotrack::UsageError);
  }

  TEST_CASE("training: a batch runs its clips as the network's batch") {
    // Step s of a batch of 2 holds the clips that steps 2s and 2s + 1 of a batch of 1 hold (same
    // length here: no long clips, no curriculum). Each clip's forward pass, motion prior
    // included, must be the one it has alone: the visibility and confidence losses, means over
    // equal-sized clips, are then the means of the single clips' losses.
    cotrack::TrainConfig config = tiny_config();
    config.init = COTRACK_DEFAULT_MODEL;
    config.clip_frames = 16;
    config.translation_until = config.affine_until = 0;
    config.motion_prior = true;
    config.min_speed = 2;
    config.max_speed = 10;
    const cotrack::Trainer single(config);
    config.batch = 2;
    cotrack::Trainer batched(config);
    for (int64_t s : {0, 3}) {
      CAPTURE(s);
      const auto a = single.evaluate(2 * s), b = single.evaluate(2 * s + 1);
      const auto ab = batched.evaluate(s);
      MESSAGE("step " << s << ": vis " << a.vis << " and " << b.vis << " alone, " << ab.vis
                      << " batched; conf " << a.conf << " and " << b.conf << ", " << ab.conf);
      CHECK(a.vis != doctest::Approx(b.vis).epsilon(1e-3));  // two different clips
      CHECK(ab.vis == doctest::Approx(0.5 * (a.vis + b.vis)).epsilon(1e-4));
      CHECK(ab.conf == doctest::Approx(0.5 * (a.conf + b.conf)).epsilon(1e-4));
    }
    const auto stats = batched.step();
    CHECK(std::isfinite(stats.loss));
    CHECK(stats.grad_norm > 0);
    config.batch = 0;
    CHECK_THROWS_AS(cotrack::Trainer{config}, cotrack::UsageError);
  }

  TEST_CASE("training: photo, long-clip and speed settings are checked") {
    cotrack::TrainConfig c = tiny_config();
    c.long_clip_frames = 13;  // not window_len + a multiple of the step
    CHECK_THROWS_AS(cotrack::Trainer{c}, cotrack::UsageError);
    c = tiny_config();
    c.min_speed = 5;
    c.max_speed = 2;
    CHECK_THROWS_AS(cotrack::Trainer{c}, cotrack::UsageError);
    c = tiny_config();
    c.photos = "/nonexistent/cotrack-photos";
    CHECK_THROWS_AS(cotrack::Trainer{c}, cotrack::InputError);
    c = tiny_config();
    c.long_clip_frames = 20;
    c.long_fraction = 1.0;
    c.min_speed = 2;
    c.max_speed = 12;
    cotrack::Trainer t(c);
    CHECK(std::isfinite(t.step().loss));
  }

  TEST_CASE("training: a resolution override is trained at and kept on resume") {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("cotrack_train_res_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string ckpt = (dir / "checkpoint.ckpt").string();
    cotrack::TrainConfig config = tiny_config();
    config.height = 96;
    config.width = 64;
    cotrack::Trainer a(config);
    CHECK(a.model_config().model_height == 96);
    CHECK(a.model_config().model_width == 64);
    const auto stats = a.step();
    CHECK(std::isfinite(stats.loss));
    a.save(ckpt);
    // Resumed without an override: the checkpoint's resolution; with one: the override.
    cotrack::Trainer b = cotrack::Trainer::resume(ckpt, tiny_config());
    CHECK(b.model_config().model_height == 96);
    CHECK(b.model_config().model_width == 64);
    cotrack::TrainConfig wider = tiny_config();
    wider.height = wider.width = 128;
    cotrack::Trainer c = cotrack::Trainer::resume(ckpt, wider);
    CHECK(c.model_config().model_width == 128);
    // The model file written from it runs at that resolution by default.
    CHECK(cotrack::Model::load(ckpt).config().model_height == 96);
    // A resolution the network cannot take is one clear error.
    cotrack::TrainConfig bad = tiny_config();
    bad.height = bad.width = 30;  // not a multiple of the stride, 4
    CHECK_THROWS_AS(cotrack::Trainer{bad}, cotrack::UsageError);
    CHECK_THROWS_AS(cotrack::Trainer::resume(ckpt, bad), cotrack::UsageError);
    std::filesystem::remove_all(dir);
  }
}

TEST_SUITE("train") {
  TEST_CASE("training: --motion-prior starts the unrolled windows where the points moved") {
    // Fast clips (10 px a frame at 256x256, beyond the correlation's reach from a standing
    // start) through the shipped model: with the prior, as at inference, the windows start near
    // the truth and the loss and error fall far below those of starting from the last estimate.
    cotrack::TrainConfig config = tiny_config();
    config.init = COTRACK_DEFAULT_MODEL;
    config.clip_frames = 24;
    config.points = 24;
    config.min_speed = config.max_speed = 10.0;
    config.translation_until = 1.0;  // translations only: every layer pans
    std::vector<cotrack::TrainStepStats> stats;
    for (const bool prior : {false, true}) {
      config.motion_prior = prior;
      cotrack::Trainer trainer(config);
      double loss = 0, error = 0;
      for (int64_t s = 0; s < 3; ++s) {
        const auto e = trainer.evaluate(s);
        loss += e.loss / 3;
        error += e.error_px / 3;
      }
      MESSAGE("motion prior " << std::string(prior ? "on" : "off") << ": loss " << loss << ", error "
                              << error << " model px");
      cotrack::TrainStepStats t;
      t.loss = loss;
      t.error_px = error;
      stats.push_back(t);
      REQUIRE(std::isfinite(loss));
    }
    CHECK(stats[1].error_px < 0.5 * stats[0].error_px);
    CHECK(stats[1].loss < stats[0].loss);
  }
}
