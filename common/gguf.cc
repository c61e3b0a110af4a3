#include "common/gguf.h"
