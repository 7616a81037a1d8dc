#include "mysql/executor.hpp"
