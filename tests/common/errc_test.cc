#include "common/errc.h"
#include <gtest/gtest.h>
