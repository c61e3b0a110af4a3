#include "common/manifest.h"
