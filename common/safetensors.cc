#include "common/safetensors.h"
