#include "common/manifest.h"
#include <gtest/gtest.h>
