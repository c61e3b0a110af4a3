#include "common/store.h"
