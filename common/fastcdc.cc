#include "common/fastcdc.h"
