# Flags every target of ours gets.
add_compile_options(-march=${POLLMSGR_ARCH} -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                    -Wno-missing-field-initializers)
if(POLLMSGR_WERROR)
  add_compile_options(-Werror)
endif()
if(POLLMSGR_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
