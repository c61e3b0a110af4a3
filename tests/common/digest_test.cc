#include "common/digest.h"
#include <gtest/gtest.h>
