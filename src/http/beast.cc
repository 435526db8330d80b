// Beast's separately compiled implementation (BOOST_BEAST_SEPARATE_COMPILATION), once for the whole program.
#include <utility>

#include <boost/beast/src.hpp>
