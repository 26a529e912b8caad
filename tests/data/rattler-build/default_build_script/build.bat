if not exist "%PREFIX%\share\default_build_script" mkdir "%PREFIX%\share\default_build_script"
echo default-build-script> "%PREFIX%\share\default_build_script\marker.txt"
