#include "common/codec.h"
