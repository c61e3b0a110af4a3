#include "common/fastcdc.h"
#include <gtest/gtest.h>
