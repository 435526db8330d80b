// Asio's separately compiled implementation (BOOST_ASIO_SEPARATE_COMPILATION), once for the whole program.
#include <utility>  // Boost 1.74's asio/awaitable.hpp uses std::exchange without including it

#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
