// The pipeline tests' runner: one binary, cases in TEST_SUITE("pipeline"), run through ctest.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
