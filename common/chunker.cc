#include "common/chunker.h"
