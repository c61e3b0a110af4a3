#include "common/store.h"
#include <gtest/gtest.h>
